/**
 * cni.config — the container runtime uses flannel's CNI config.
 *
 * Why (flannel-facts §4.2, §7.3): the manifest's install-cni init container writes cni-conf.json as
 * `/etc/cni/net.d/10-flannel.conflist` (network `cbr0`, plugins `flannel` + `portmap`). containerd and CRI-O
 * list that directory, keep `.conf`/`.conflist`/`.json` files, sort them by name and use the first one that
 * loads — so any other CNI's config that sorts earlier (`05-cilium.conflist`, `10-calico.conflist`,
 * `10-containerd-net.conflist`, `87-podman-bridge.conflist`) wins and flannel is never called. containerd stops
 * at an earlier file that does not parse (CRI-O skips it). The flannel plugin rejects a `delegate` that sets
 * `name` or `ipam` (`'delegate' dictionary must not have 'name' field, it'll be set by flannel`).
 */
import type {CniConfigFile} from '../../model.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok} from '../lib/result.js'

const DIR = '/etc/cni/net.d'

interface Described {
  file: CniConfigFile
  /** Plugin types in order (`["flannel", "portmap"]`), for a `.conf` the single type. */
  types: string[]
  network?: string
  flannel?: Record<string, unknown>
  /** Why the runtime would refuse the file, when it would. */
  invalid?: string
  /** The text names the flannel plugin (also when it does not parse). */
  mentionsFlannel: boolean
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function describe(file: CniConfigFile): Described {
  const d: Described = {file, types: [], mentionsFlannel: /"type"\s*:\s*"flannel"/.test(file.text)}
  if (file.error !== undefined) {
    d.invalid = `not valid JSON (${file.error})`
    return d
  }
  const j = file.json
  if (!isObj(j)) {
    d.invalid = 'not a JSON object'
    return d
  }
  if (typeof j['name'] === 'string') d.network = j['name']
  const plugins: unknown[] = file.name.endsWith('.conflist')
    ? Array.isArray(j['plugins'])
      ? j['plugins']
      : []
    : [j]
  if (file.name.endsWith('.conflist') && plugins.length === 0)
    d.invalid = 'a .conflist without a "plugins" list'
  for (const p of plugins) {
    const type = isObj(p) && typeof p['type'] === 'string' ? p['type'] : ''
    d.types.push(type || '?')
    if (type === 'flannel' && isObj(p) && d.flannel === undefined) d.flannel = p
    if (type === '' && d.invalid === undefined) d.invalid = 'a plugin without "type"'
  }
  return d
}

/** The line of `"key"` inside the `"delegate"` object of a file, for evidence. */
function delegateKeyLine(text: string, key: string): string | undefined {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => /"delegate"\s*:/.test(l))
  if (start === -1) return undefined
  const re = new RegExp(`"${key}"\\s*:`)
  for (let i = start; i < lines.length; i++)
    if (re.test(lines[i] as string)) return (lines[i] as string).trim()
  return undefined
}

const label = (d: Described): string =>
  `${d.file.name} (${d.network !== undefined ? `network "${d.network}", ` : ''}plugins ${d.types.join(' + ') || 'none'})`

export const check = defineCheck({
  id: 'cni.config',
  area: 'cni',
  title: "flannel's CNI config sorts first in /etc/cni/net.d, is valid JSON and has a clean delegate",
  severity: 'error',
  needs: ['cniConfigs'],
  evaluate(facts) {
    const got = needAll(facts, ['cniConfigs'] as const, [`the CNI configs in ${DIR}`])
    if (!got.ok) return [got.finding]
    const [files] = got.values
    const src = got.sources[0] as string
    const loaded = files.filter((f) => f.ignored === undefined).map(describe)
    const order = ev(
      src,
      loaded.map((d) => `${d.file.name}${d.invalid ? `  (${d.invalid})` : ''}`),
    )
    const flannelAt = loaded.findIndex((d) => d.flannel !== undefined && d.invalid === undefined)
    const findings: Finding[] = []

    if (flannelAt === -1) {
      const broken = loaded.find((d) => d.flannel !== undefined || d.mentionsFlannel)
      const disabled = files.find((f) => f.ignored !== undefined && /"type"\s*:\s*"flannel"/.test(f.text))
      const why = broken
        ? `${broken.file.name} uses the flannel plugin but is ${broken.invalid}`
        : disabled
          ? `the only flannel config, ${disabled.name}, is ${disabled.ignored?.replace(/:.*/, '')} — the runtime does not load it`
          : loaded.length === 0
            ? `${DIR} holds no .conf/.conflist/.json file`
            : `no config in ${DIR} uses the flannel plugin`
      return [
        fail('error', `No loadable flannel CNI config: ${why}.`, {
          evidence: [order, ...(broken ? [ev(`${src} ${broken.file.name}`, [broken.file.error ?? ''])] : [])],
          fix: [
            `ls -l ${DIR}`,
            'kubectl -n kube-flannel delete pod -l app=flannel   # install-cni rewrites 10-flannel.conflist from cni-conf.json',
          ],
        }),
      ]
    }
    const fl = loaded[flannelAt] as Described
    const before = loaded.slice(0, flannelAt)
    if (before.length > 0) {
      const wins = before.find((d) => d.invalid === undefined)
      const brokenFirst = before.filter((d) => d.invalid !== undefined)
      const parts: string[] = []
      if (wins)
        parts.push(
          `${label(wins)} sorts before ${fl.file.name}, so the runtime uses it and never calls flannel`,
        )
      if (brokenFirst.length > 0)
        parts.push(
          `${brokenFirst.map((d) => `${d.file.name} (${d.invalid})`).join(', ')} sort${brokenFirst.length === 1 ? 's' : ''} first; containerd refuses to load any CNI config while it is broken (CRI-O skips it)`,
        )
      findings.push(
        fail('error', `${parts.join('; ')}.`, {
          subject: fl.file.name,
          evidence: [order],
          fix: before.map(
            (d) =>
              `mv ${DIR}/${d.file.name} /root/${d.file.name}.disabled   # another CNI's config (or remove that CNI)`,
          ),
        }),
      )
    }

    const conf = fl.flannel as Record<string, unknown>
    const delegate = conf['delegate']
    if (delegate !== undefined && !isObj(delegate)) {
      findings.push(
        fail(
          'error',
          `In ${fl.file.name} the flannel plugin's "delegate" is not an object, so the plugin cannot load it.`,
          {
            subject: fl.file.name,
            evidence: [
              ev(`${src} ${fl.file.name}`, [
                delegateKeyLine(fl.file.text, 'delegate') ?? JSON.stringify(delegate),
              ]),
            ],
            fix: [
              `# in ${DIR}/${fl.file.name} (ConfigMap kube-flannel-cfg key cni-conf.json): "delegate": {"hairpinMode": true, "isDefaultGateway": true}`,
            ],
          },
        ),
      )
    } else if (isObj(delegate)) {
      for (const key of ['name', 'ipam'] as const) {
        if (!(key in delegate)) continue
        findings.push(
          fail(
            'error',
            `In ${fl.file.name} the flannel plugin's "delegate" sets "${key}"; the plugin refuses every pod with "'delegate' dictionary must not have '${key}' field, it'll be set by flannel".`,
            {
              subject: fl.file.name,
              evidence: [
                ev(`${src} ${fl.file.name}`, [
                  delegateKeyLine(fl.file.text, key) ?? `"${key}": ${JSON.stringify(delegate[key])}`,
                ]),
              ],
              fix: [
                `# remove "${key}" from "delegate" in the ConfigMap key cni-conf.json, then:`,
                'kubectl -n kube-flannel edit configmap kube-flannel-cfg',
                'kubectl -n kube-flannel delete pod -l app=flannel   # install-cni rewrites the file',
              ],
            },
          ),
        )
      }
    }
    const after = loaded.slice(flannelAt + 1).filter((d) => d.flannel !== undefined || d.mentionsFlannel)
    if (after.length > 0) {
      findings.push(
        fail(
          'info',
          `Other flannel configs (${after.map((d) => d.file.name).join(', ')}) sort after ${fl.file.name} and are not used.`,
          {
            evidence: [order],
          },
        ),
      )
    }
    if (findings.every((f) => f.status === 'info')) {
      findings.unshift(
        ok(
          `${label(fl)} is the first CNI config the runtime loads, is valid JSON, and its delegate sets neither "name" nor "ipam".`,
          {
            evidence: [order],
          },
        ),
      )
    }
    return findings
  },
})
