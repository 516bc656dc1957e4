/**
 * node.checksum-offload — VXLAN packets leave this node with valid UDP checksums.
 *
 * Why (flannel-facts §10): kernels before 5.7 (fixed by torvalds/linux ea64d8d6c675) compute a wrong UDP
 * checksum for VXLAN packets when kube-proxy's iptables rules mark them and `tx-checksum-ip-generic` offload is
 * on for flannel.1; the receiver logs `UDP: bad checksum. From ... to ...:8472` and drops them (63 s Service
 * timeouts, DNS failing, flannel-io/flannel#1279, k3s-io/k3s#2013). Vendor kernels newer in name are affected
 * too: RHEL/CentOS/Rocky 8 (`4.18.0-*.el8*`, k3s-io/k3s#5013, on vSphere) and RHEL/Rocky 9 (`5.14.0-*.el9*`,
 * reported in kubernetes/kubernetes#92035). flannel has no automatic workaround (PR #1282 never merged); its
 * troubleshooting doc recommends turning the offload off on flannel.1 and a udev rule to keep it off.
 */
import type {EthtoolFeatures, KernelInfo} from '../../model.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {readNetConf} from '../lib/netconf-read.js'
import {vxlanOptions} from '../lib/flannel.js'
import {kernelVersion} from '../../parse/uname.js'
import {normalizeLogLine} from '../../parse/logs.js'

const FEATURE = 'tx-checksum-ip-generic'

/** Vendor kernels reported to corrupt VXLAN checksums although their version says ≥ 5.7 (or backport-heavy). */
const AFFECTED_VENDOR: {re: RegExp; what: string}[] = [
  {re: /^4\.18\.0-.*\.el8/, what: 'a RHEL/CentOS/Rocky 8 kernel (k3s-io/k3s#5013)'},
  {re: /^5\.14\.0-.*\.el9/, what: 'a RHEL/Rocky 9 kernel (reported in kubernetes/kubernetes#92035)'},
]

/** Why this kernel is at risk, or undefined when it is not known to be. */
export function kernelRisk(release: string): string | undefined {
  for (const v of AFFECTED_VENDOR) if (v.re.test(release)) return `${release} is ${v.what}`
  const ver = kernelVersion(release)
  if (ver && (ver[0] < 5 || (ver[0] === 5 && ver[1] < 7))) return `${release} is older than 5.7`
  return undefined
}

function fixFor(dev: string): string[] {
  return [
    `ethtool -K ${dev} tx-checksum-ip-generic off`,
    `echo 'SUBSYSTEM=="net", ACTION=="add|change|move", ENV{INTERFACE}=="${dev}", RUN+="/usr/sbin/ethtool -K ${dev} tx-checksum-ip-generic off"' > /etc/udev/rules.d/90-flannel.rules`,
  ]
}

export const check = defineCheck({
  id: 'node.checksum-offload',
  area: 'node',
  title: 'VXLAN checksum offload is off where the kernel is known to corrupt it',
  severity: 'warning',
  needs: ['kernel', 'ethtool', 'logs', 'netConf'],
  evaluate(facts) {
    const nc = readNetConf(facts, 'the data path')
    if (nc.ok && nc.conf.backendType !== 'vxlan') {
      return [skip(`The backend is ${nc.conf.backendType || '""'}, not vxlan: no VXLAN packets to checksum.`)]
    }
    const dev = nc.ok ? `flannel.${vxlanOptions(nc.conf).vni}` : 'flannel.1'
    // The VXLAN port the complaints must name: the configured one, else the Linux and IANA defaults.
    const ports = nc.ok ? [String(vxlanOptions(nc.conf).port)] : ['8472', '4789']
    const kernelA = facts.get('kernel')
    const ethA = facts.get('ethtool')
    const logsA = facts.get('logs')

    // Strong evidence first: the receiving side's kernel complaining about VXLAN checksums.
    const bad: {source: string; line: string}[] = []
    if (logsA.ok) {
      for (const f of logsA.value) {
        for (const l of f.entries ?? f.lines.map((x, i) => normalizeLogLine(x, i + 1))) {
          const m = /UDP: bad checksum\. From \S+ to \S+:(\d+)/.exec(l.text)
          if (m && ports.includes(m[1] as string)) bad.push({source: f.name, line: l.raw.trim()})
        }
      }
    }
    const badEv =
      bad.length > 0
        ? [
            ev(
              bad[0]?.source ?? 'logs',
              bad.slice(0, 3).map((b) => b.line),
            ),
          ]
        : []

    const kernel: KernelInfo | undefined = kernelA.ok ? kernelA.value : undefined
    const eth: EthtoolFeatures | undefined = ethA.ok ? ethA.value : undefined
    const feat = eth?.features.get(FEATURE)
    const risk = kernel ? kernelRisk(kernel.release) : undefined
    const kEv = kernel && kernelA.ok ? [ev(kernelA.source, [kernel.raw])] : []
    const eEv =
      feat && ethA.ok ? [ev(ethA.source, [`Features for ${eth?.device ?? dev}:`, feat.raw.trim()])] : []
    const findings: Finding[] = []

    if (eth?.device !== undefined && !/^flannel\.\d+$/.test(eth.device)) {
      return [
        unknown(`The ethtool capture is of ${eth.device}, not of the vxlan device ${dev}.`, {
          evidence: [ev(ethA.ok ? ethA.source : 'ethtool', [`Features for ${eth.device}:`])],
          hint: `capture it with \`ethtool -k ${dev}\``,
        }),
      ]
    }
    if (eth && feat === undefined) {
      return [
        unknown(`The ethtool capture${eth.device ? ` of ${eth.device}` : ''} has no ${FEATURE} line.`, {
          hint: `capture it with \`ethtool -k ${dev}\``,
        }),
      ]
    }
    if (feat && !feat.on) {
      findings.push(
        ok(
          `${FEATURE} is off on ${eth?.device ?? dev}, so the kernel computes VXLAN checksums in software.`,
          {evidence: [...eEv, ...kEv]},
        ),
      )
      if (bad.length > 0)
        findings.push(
          fail(
            'warning',
            `The logs still show ${bad.length} "UDP: bad checksum" line(s); they come from a peer that still has the offload on.`,
            {
              evidence: badEv,
              fix: ['# on every other node:', ...fixFor(dev)],
            },
          ),
        )
      return findings
    }
    if (bad.length > 0) {
      return [
        fail(
          'warning',
          `The kernel drops VXLAN packets with bad UDP checksums (${bad.length} "UDP: bad checksum" line(s))${risk ? `; ${risk}` : ''}${feat?.on ? ` and ${FEATURE} is on` : ''}.`,
          {
            evidence: [...badEv, ...eEv, ...kEv],
            fix: ['# on every node (the sender computes the bad checksum):', ...fixFor(dev)],
          },
        ),
      ]
    }
    if (!kernelA.ok && !ethA.ok)
      return [unavailable('the kernel release (uname) and the offload features (ethtool -k)', kernelA)]
    if (!kernelA.ok) {
      return [
        unknown(
          `${FEATURE} is on, but the kernel release is unknown, so whether it corrupts VXLAN checksums could not be judged.`,
          {
            evidence: eEv,
            hint: 'capture `uname -a`',
          },
        ),
      ]
    }
    if (risk === undefined) {
      return [
        ok(
          `Kernel ${kernel?.release} is not known to corrupt VXLAN checksums${feat?.on ? ` (${FEATURE} is on)` : ''}.`,
          {evidence: [...kEv, ...eEv]},
        ),
      ]
    }
    if (!ethA.ok) {
      return [
        unknown(
          `${risk} (VXLAN checksum offload bug), but the offload features of ${dev} were not captured.`,
          {
            evidence: kEv,
            hint: `capture \`ethtool -k ${dev}\``,
          },
        ),
      ]
    }
    return [
      fail(
        'warning',
        `${risk} and ${FEATURE} is on for ${eth?.device ?? dev}: VXLAN packets marked by kube-proxy can leave with a bad UDP checksum and be dropped by the receiver.`,
        {
          evidence: [...kEv, ...eEv],
          fix: fixFor(dev),
        },
      ),
    ]
  },
})
