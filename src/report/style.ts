/** Colour decisions live here: colour only on a TTY, never with NO_COLOR, FORCE_COLOR honoured. */
import {Chalk, type ChalkInstance} from 'chalk'

import type {Status} from '../checks/types.js'

export function colourLevel(stream: {isTTY?: boolean}, env: NodeJS.ProcessEnv = process.env): 0 | 1 | 2 | 3 {
  if ('NO_COLOR' in env && env['NO_COLOR'] !== '') return 0
  const force = env['FORCE_COLOR']
  if (force !== undefined) return force === '0' || force === 'false' ? 0 : 1
  if (!stream.isTTY || env['TERM'] === 'dumb') return 0
  return 1
}

export function makeChalk(level: 0 | 1 | 2 | 3): ChalkInstance {
  return new Chalk({level})
}

export const MARK: Record<Status, string> = {
  ok: '✔',
  error: '✖',
  warning: '▲',
  info: 'ℹ',
  unknown: '?',
  skip: '–',
}

export function paint(c: ChalkInstance, s: Status, text: string): string {
  switch (s) {
    case 'ok':
      return c.green(text)
    case 'error':
      return c.red.bold(text)
    case 'warning':
      return c.yellow(text)
    case 'info':
      return c.cyan(text)
    case 'unknown':
      return c.magenta(text)
    case 'skip':
      return c.dim(text)
  }
}
