/**
 * netconf.present — in kube mode flanneld reads net-conf.json once, at start, from `--net-config-path`
 * (default /etc/kube-flannel/net-conf.json: key `net-conf.json` of the ConfigMap `kube-flannel-cfg`, mounted
 * at /etc/kube-flannel/). A missing or unreadable file ends in `Failed to create SubnetManager: failed to
 * read net conf: open /etc/kube-flannel/net-conf.json: no such file or directory` and exit 1
 * (flannel-facts §1.1). k3s/RKE2 write their own copy under /var/lib/rancher/k3s/agent/etc/flannel/.
 */
import {defineCheck} from '../types.js'
import {ev, fail, ok, unknown} from '../lib/result.js'

const DEFAULT_PATH = '/etc/kube-flannel/net-conf.json'
const HINT =
  'pass --net-conf FILE (net-conf.json, the kube-flannel-cfg ConfigMap or the whole manifest), or a bundle with kubernetes/kube-flannel-cfg.yaml'

/** The host path behind a bundle path (`files/etc/kube-flannel/net-conf.json` → `/etc/kube-flannel/net-conf.json`). */
function hostPath(source: string | undefined): string {
  if (source === undefined) return DEFAULT_PATH
  const m = /(?:^|\/)files(\/.+)$/.exec(source)
  return m ? (m[1] as string) : source
}

export const check = defineCheck({
  id: 'netconf.present',
  area: 'netconf',
  title: 'net-conf.json is readable',
  severity: 'error',
  needs: ['netConf'],
  evaluate(facts) {
    const a = facts.get('netConf')
    if (a.ok) {
      const n = a.value.text.split('\n').filter((l) => l.trim() !== '').length
      return [
        ok(`net-conf.json was read from ${a.value.source} (${n} non-empty lines).`, {
          evidence: [ev(a.source, [])],
        }),
      ]
    }
    if (a.state === 'absent') {
      const path = hostPath(a.source)
      return [
        fail(
          'error',
          `net-conf.json is not at ${path}: flanneld stops at start with "failed to read net conf: open ${path}: no such file or directory".`,
          {
            evidence: [ev(a.source ?? path, [a.reason])],
            fix: [
              '# does the ConfigMap exist and hold the key net-conf.json?',
              'kubectl -n kube-flannel get configmap kube-flannel-cfg -o yaml',
              '# is it mounted at /etc/kube-flannel/ in the flannel pods (volume flannel-cfg)?',
              "kubectl -n kube-flannel get daemonset kube-flannel-ds -o yaml | grep -n -e 'flannel-cfg' -e 'kube-flannel/' -e 'net-config-path'",
              `# a custom --net-config-path must name the mounted file (default ${DEFAULT_PATH})`,
              'kubectl -n kube-flannel rollout restart daemonset kube-flannel-ds',
            ],
          },
        ),
      ]
    }
    const x: {hint: string; evidence?: ReturnType<typeof ev>[]} = {hint: a.hint ?? HINT}
    if (a.source !== undefined) x.evidence = [ev(a.source, [])]
    return [unknown(`Could not look at net-conf.json: ${a.reason}`, x)]
  },
})
