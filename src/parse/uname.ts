/**
 * The kernel from `uname -a` (`Linux HOST RELEASE VERSION... MACHINE [PROCESSOR PLATFORM] GNU/Linux`),
 * `uname -r` (the release alone), `uname -rm`, or `/proc/version` (`Linux version RELEASE (builder) ...`).
 * The release decides the VXLAN checksum-offload risk (flannel-facts §10).
 */
import type {KernelInfo} from '../model.js'
import {ParseError} from './errors.js'

/** Machine names uname prints (`uname -m`). */
const MACHINES =
  /^(x86_64|amd64|i[3-6]86|aarch64|arm64|armv[5-8]\w*|ppc64le|ppc64|s390x|riscv64|mips\w*|loongarch64)$/

const RELEASE = /^\d+\.\d+[\w.+~-]*$/

export function parseUname(raw: string): KernelInfo {
  const line = raw.split(/\r?\n/).find((l) => l.trim() !== '')
  if (line === undefined) throw new ParseError('empty uname output', 1, 'capture it with `uname -a`')
  const t = line.trim().split(/\s+/)
  let release: string | undefined
  let machine: string | undefined
  if (t[0] === 'Linux' && t[1] === 'version' && t[2] !== undefined) {
    release = t[2] // /proc/version
  } else if (t[0] === 'Linux' && t.length >= 3) {
    release = t[2]
    for (let i = t.length - 1; i > 2; i--) {
      if (MACHINES.test(t[i] as string)) {
        // `uname -a` prints machine, processor and platform; the first of a run of arch names is the machine.
        let j = i
        while (j - 1 > 2 && MACHINES.test(t[j - 1] as string)) j--
        machine = t[j]
        break
      }
    }
  } else if (t.length <= 2) {
    release = t[0]
    if (t[1] !== undefined && MACHINES.test(t[1])) machine = t[1]
  }
  if (release === undefined || !RELEASE.test(release)) {
    throw new ParseError(
      `no kernel release in ${JSON.stringify(line.slice(0, 80))}`,
      raw.split(/\r?\n/).indexOf(line) + 1,
      'capture it with `uname -a` or `uname -r`',
    )
  }
  const out: KernelInfo = {release, raw: line}
  if (machine !== undefined) out.machine = machine
  return out
}

/** Numeric major.minor.patch of a release (`4.18.0-305.19.1.el8_4.x86_64` → [4, 18, 0]). */
export function kernelVersion(release: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release)
  if (!m) return undefined
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
}
