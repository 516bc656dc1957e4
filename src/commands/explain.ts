import {Args, Command, Flags} from '@oclif/core'

import type {Explanation} from '../checks/lib/messages.js'
import type {ExplainResult} from '../report/explain.js'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export default class Explain extends Command {
  static override summary =
    'Explain flannel, CNI and kubelet error messages: the cause, the check that covers it, the fix'
  static override description = `Reads log text (a file, or - / nothing for standard input), recognises every known flannel, flannel CNI plugin, bridge plugin, kubelet and RBAC message, and prints for each its cause, the doctor check id that covers it, and what to do.

Exit codes: 0 nothing at error or warning level recognised; 1 an error or warning message was found; 2 usage error.`
  static override examples = [
    'kubectl -n kube-flannel logs ds/kube-flannel-ds | <%= config.bin %> explain',
    '<%= config.bin %> explain flannel.log',
    'kubectl describe pod web-0 | <%= config.bin %> explain - --json',
  ]
  static override enableJsonFlag = true
  static override args = {
    file: Args.string({description: 'Log file to read; - or nothing for standard input', required: false}),
  }
  static override flags = {
    all: Flags.boolean({summary: 'Also show healthy (info) messages such as "flannel is ready"'}),
  }

  async run(): Promise<ExplainResult[]> {
    const {args, flags} = await this.parse(Explain)
    const [{entryFix, explain}, {nodeFs}, {renderExplain}] = await Promise.all([
      import('../checks/lib/messages.js'),
      import('../host/fs.js'),
      import('../report/explain.js'),
    ])
    let text: string
    if (args.file === undefined || args.file === '-') {
      if (process.stdin.isTTY)
        this.error('give a log file, or pipe log text in (e.g. kubectl logs ... | flannelctl explain)', {
          exit: 2,
        })
      text = await readStdin()
    } else {
      const r = await nodeFs.readText(args.file)
      if (!r.ok) this.error(`${args.file}: ${r.reason}`, {exit: 2})
      text = r.text
    }
    const found = explain(text).filter((e: Explanation) => flags.all || e.entry.level !== 'info')
    const results: ExplainResult[] = found.map((e) => ({
      line: e.line,
      lines: e.lines,
      text: e.text,
      id: e.entry.id,
      level: e.entry.level,
      check: e.entry.check,
      cause: e.entry.cause,
      fix: entryFix(e.entry, e.captures),
    }))
    process.exitCode = results.some((r) => r.level === 'error' || r.level === 'warning') ? 1 : 0
    if (!this.jsonEnabled()) process.stdout.write(renderExplain(results, process.stdout))
    return results
  }
}
