/**
 * Offload features from `ethtool -k DEV` (`Features for flannel.1:` then `name: on|off [fixed|requested on|not
 * requested]`, sub-features indented by a tab). The `Actual changes:` listing that `ethtool -K` prints has the
 * same line shape and is accepted too. The feature that matters for flannel is `tx-checksum-ip-generic` on
 * `flannel.1` (flannel-facts §10).
 */
import type {EthtoolFeatures} from '../model.js'
import {ParseError} from './errors.js'

const FEATURE = /^([a-z0-9][a-z0-9_-]*):\s+(on|off)\b(.*)$/

export function parseEthtoolFeatures(raw: string): EthtoolFeatures {
  const out: EthtoolFeatures = {features: new Map()}
  let header = false
  const lines = raw.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const t = line.trim()
    if (t === '') continue
    const h = /^Features for (.+):$/.exec(t)
    if (h) {
      if (header) {
        throw new ParseError(
          `a second device (${h[1] as string}) in one capture`,
          i + 1,
          'capture one device per file: `ethtool -k flannel.1`',
        )
      }
      header = true
      out.device = h[1] as string
      continue
    }
    if (t === 'Actual changes:') {
      header = true
      continue
    }
    if (/^Cannot get device udp[- ]tunnel port information/i.test(t)) continue
    const f = FEATURE.exec(t)
    if (!f) {
      const missing = /no device matches name|No such device|Cannot get device feature names/i.test(t)
      throw new ParseError(
        missing
          ? `ethtool could not find the device: ${t}`
          : `not an ethtool feature line: ${JSON.stringify(t.slice(0, 80))}`,
        i + 1,
        missing ? 'the vxlan device does not exist on this node' : 'capture it with `ethtool -k flannel.1`',
      )
    }
    out.features.set(f[1] as string, {on: f[2] === 'on', fixed: /\[fixed\]/.test(f[3] as string), raw: line})
  }
  if (out.features.size === 0 && !header && raw.trim() !== '') {
    throw new ParseError(
      'no "Features for DEV:" header and no feature lines',
      1,
      'capture it with `ethtool -k flannel.1`',
    )
  }
  return out
}
