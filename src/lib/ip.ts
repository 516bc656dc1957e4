/**
 * Small, exact IP and CIDR arithmetic (IPv4 and IPv6, as bigint) shared by parsers, checks and setup.
 * Pure; no dependency, because the operations needed are few and must match Go's net package
 * semantics that flannel uses (mask length first, then the base address).
 */

export type Family = 4 | 6

export interface Cidr {
  family: Family
  /** Address as given (host bits possibly set). */
  addr: bigint
  prefix: number
  /** Address with host bits cleared. */
  base: bigint
}

const V4_BITS = 32
const V6_BITS = 128

export function parseIPv4(s: string): bigint | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (!m) return undefined
  let v = 0n
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string
    if (part.length > 1 && part.startsWith('0')) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    v = (v << 8n) | BigInt(n)
  }
  return v
}

export function parseIPv6(s: string): bigint | undefined {
  if (s.includes('%')) s = s.slice(0, s.indexOf('%'))
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined
  let tail4: bigint | undefined
  const lastColon = s.lastIndexOf(':')
  if (s.slice(lastColon + 1).includes('.')) {
    tail4 = parseIPv4(s.slice(lastColon + 1))
    if (tail4 === undefined) return undefined
    s = s.slice(0, lastColon + 1) + '0:0'
  }
  const dbl = s.split('::')
  if (dbl.length > 2) return undefined
  const head = dbl[0] === '' ? [] : (dbl[0] as string).split(':')
  const tail = dbl.length === 2 ? (dbl[1] === '' ? [] : (dbl[1] as string).split(':')) : []
  const missing = 8 - head.length - tail.length
  if (dbl.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...Array<string>(dbl.length === 2 ? missing : 0).fill('0'), ...tail]
  let v = 0n
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
    v = (v << 16n) | BigInt(parseInt(g, 16))
  }
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4
  return v
}

export function parseIP(s: string): {family: Family; addr: bigint} | undefined {
  const v4 = parseIPv4(s)
  if (v4 !== undefined) return {family: 4, addr: v4}
  const v6 = parseIPv6(s)
  if (v6 !== undefined) return {family: 6, addr: v6}
  return undefined
}

const bits = (f: Family): number => (f === 4 ? V4_BITS : V6_BITS)

export function maskOf(family: Family, prefix: number): bigint {
  const b = bits(family)
  if (prefix <= 0) return 0n
  return ((1n << BigInt(prefix)) - 1n) << BigInt(b - prefix)
}

/** Parse `a.b.c.d/n` or `x::y/n`. A bare address is taken as a host prefix (/32 or /128). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/')
  const ipPart = slash === -1 ? s : s.slice(0, slash)
  const ip = parseIP(ipPart)
  if (!ip) return undefined
  let prefix = bits(ip.family)
  if (slash !== -1) {
    const p = s.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p)) return undefined
    prefix = Number(p)
    if (prefix > bits(ip.family)) return undefined
  }
  return {family: ip.family, addr: ip.addr, prefix, base: ip.addr & maskOf(ip.family, prefix)}
}

export function formatIP(family: Family, v: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.')
  }
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn))
  // Longest run of zero groups (length ≥ 2) becomes '::' (RFC 5952).
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart === -1) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

export function formatCidr(c: Pick<Cidr, 'family' | 'base' | 'prefix'>): string {
  return `${formatIP(c.family, c.base)}/${c.prefix}`
}

/** Canonical form of a CIDR string (host bits cleared), or undefined if it does not parse. */
export function normalizeCidr(s: string): string | undefined {
  const c = parseCidr(s)
  return c ? formatCidr(c) : undefined
}

/** Canonical form of an IP string, or undefined. */
export function normalizeIP(s: string): string | undefined {
  const ip = parseIP(s)
  return ip ? formatIP(ip.family, ip.addr) : undefined
}

/** Go's `net.IPNet.Contains` for an address. */
export function cidrContainsIP(c: Cidr, ip: string | bigint, family?: Family): boolean {
  let addr: bigint
  let fam: Family
  if (typeof ip === 'string') {
    const p = parseIP(ip)
    if (!p) return false
    addr = p.addr
    fam = p.family
  } else {
    addr = ip
    fam = family ?? c.family
  }
  if (fam !== c.family) return false
  return (addr & maskOf(c.family, c.prefix)) === c.base
}

/** flannel's "contains": outer mask length ≤ inner mask length and outer contains inner's base. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && cidrContainsIP(outer, inner.base)
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false
  const p = Math.min(a.prefix, b.prefix)
  const m = maskOf(a.family, p)
  return (a.base & m) === (b.base & m)
}

/** The first host address (base + 1), as flannel writes FLANNEL_SUBNET and the bridge gateway. */
export function firstHost(c: Cidr): string {
  return formatIP(c.family, c.base + 1n)
}

/** Base address as a string (the vxlan device address / the neighbour IP of a peer). */
export function baseAddress(c: Cidr): string {
  return formatIP(c.family, c.base)
}
