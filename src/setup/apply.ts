/**
 * Executes a plan in batches — one `ip -batch`, `bridge -batch`, `iptables-restore --noflush` or
 * `nft -f` per run of consecutive ops of one tool, never one process per entry. The journal is written
 * before each batch (everything it may create) and after it (what it removed).
 */
import type {HostFs} from '../host/fs.js'
import type {Runner} from '../host/runner.js'
import {withEntries, withoutEntries, type Journal} from './journal.js'
import type {NodeSource} from './node-source.js'
import type {Op, Tool} from './plan.js'

export class ApplyError extends Error {
  override readonly name = 'ApplyError'
}

export interface ApplyDeps {
  runner: Runner
  fs: HostFs
  nodes: NodeSource
  nodeName: string
  netns?: string
  journal: {get(): Journal; save(j: Journal): Promise<void>}
  /** Called before each batch (progress, and the kill-point for crash tests). */
  onBatch?: (tool: Tool, ops: readonly Op[]) => void | Promise<void>
}

/** Consecutive ops of the same tool, in order. */
export function batches(ops: readonly Op[]): {tool: Tool; ops: Op[]}[] {
  const out: {tool: Tool; ops: Op[]}[] = []
  for (const op of ops) {
    const last = out[out.length - 1]
    if (last && last.tool === op.tool) last.ops.push(op)
    else out.push({tool: op.tool, ops: [op]})
  }
  return out
}

/** The argv that runs one batch of `tool`, inside the namespace when there is one. */
export function batchArgv(tool: Tool, netns: string | undefined): string[] {
  const exec = netns ? ['ip', 'netns', 'exec', netns] : []
  switch (tool) {
    case 'ip':
      return ['ip', ...(netns ? ['-n', netns] : []), '-batch', '-']
    case 'bridge':
      return ['bridge', ...(netns ? ['-n', netns] : []), '-batch', '-']
    case 'iptables-restore':
      return [...exec, 'iptables-restore', '--noflush', '-w', '5']
    case 'nft':
      return [...exec, 'nft', '-f', '-']
    default:
      return []
  }
}

/** How a person runs the same op by hand, namespace included. */
export function displayOp(op: Op, netns: string | undefined): string {
  if (!netns) return op.display
  if (op.tool === 'ip') return op.display.replace(/^ip /, `ip -n ${netns} `)
  if (op.tool === 'bridge') return op.display.replace(/^bridge /, `bridge -n ${netns} `)
  if (op.tool === 'iptables-restore' || op.tool === 'nft') return `ip netns exec ${netns} ${op.display}`
  return op.display
}

export async function applyPlan(ops: readonly Op[], deps: ApplyDeps): Promise<void> {
  for (const b of batches(ops)) {
    const creates = b.ops.flatMap((o) => o.creates ?? [])
    if (creates.length > 0) await deps.journal.save(withEntries(deps.journal.get(), creates))
    await deps.onBatch?.(b.tool, b.ops)
    switch (b.tool) {
      case 'file':
        for (const op of b.ops) {
          if (!op.path) continue
          if (op.step === 'cleanup') await deps.fs.remove(op.path)
          else await deps.fs.writeAtomic(op.path, op.input, 0o644)
        }
        break
      case 'nodes': {
        const annotations = Object.assign({}, ...b.ops.map((o) => o.annotations ?? {})) as Record<
          string,
          string
        >
        await deps.nodes.publish(deps.nodeName, annotations)
        break
      }
      default: {
        const argv = batchArgv(b.tool, deps.netns)
        const input =
          b.tool === 'ip' || b.tool === 'bridge'
            ? b.ops.map((o) => o.input).join('\n') + '\n'
            : b.ops.map((o) => o.input).join('')
        const r = await deps.runner.run(argv, {input, timeoutMs: 30_000})
        if (r.outcome !== 'ok') {
          const why = (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' / ')
          if (/Unknown device type/i.test(why) && /type vxlan/.test(input))
            throw new ApplyError(
              `${argv.join(' ')} failed: the kernel has no VXLAN support (${why}); load it with \`modprobe vxlan\` (Raspberry Pi / Ubuntu: linux-modules-extra) — see doctor check node.vxlan-device`,
            )
          if (r.outcome === 'permission')
            throw new ApplyError(
              `${argv.join(' ')} failed: not permitted (${why}); setup needs root (CAP_NET_ADMIN)`,
            )
          throw new ApplyError(
            `${argv.join(' ')} failed (${r.outcome}${r.exitCode !== undefined ? `, exit ${r.exitCode}` : ''}): ${why}`,
          )
        }
      }
    }
    const removes = b.ops.flatMap((o) => o.removes ?? [])
    if (removes.length > 0) await deps.journal.save(withoutEntries(deps.journal.get(), removes))
  }
}
