/** Picks the renderer for --output; the only place that decides terminal width and colour. */
import type {DoctorReport} from '../engine/doctor.js'
import {renderGithub} from './github.js'
import {renderJunit} from './junit.js'
import {colourLevel, makeChalk} from './style.js'
import {renderTable} from './table.js'

export type OutputFormat = 'table' | 'json' | 'junit' | 'github'

export function renderReport(
  report: DoctorReport,
  format: OutputFormat,
  opts: {verbose?: boolean; command?: string; stream?: {isTTY?: boolean; columns?: number}} = {},
): string {
  switch (format) {
    case 'json':
      return JSON.stringify(report, null, 2) + '\n'
    case 'junit':
      return renderJunit(report)
    case 'github':
      return renderGithub(report)
    case 'table': {
      const stream = opts.stream ?? process.stdout
      const c = makeChalk(colourLevel(stream))
      const width = stream.isTTY && stream.columns ? Math.max(80, Math.min(stream.columns, 160)) : 110
      return renderTable(report, c, {
        width,
        verbose: opts.verbose ?? false,
        ...(opts.command ? {command: opts.command} : {}),
      })
    }
  }
}
