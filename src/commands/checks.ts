import {Command} from '@oclif/core'

export default class Checks extends Command {
  static override summary = 'List the check catalogue: stable ids, areas, levels and what healthy means'
  static override examples = ['<%= config.bin %> checks', '<%= config.bin %> checks --json']
  static override enableJsonFlag = true

  async run(): Promise<{id: string; area: string; severity: string; title: string}[]> {
    await this.parse(Checks)
    const {CHECKS} = await import('../checks/registry.js')
    const rows = CHECKS.map((c) => ({id: c.id, area: c.area, severity: c.severity, title: c.title}))
    if (!this.jsonEnabled()) {
      const w = Math.max(...rows.map((r) => r.id.length))
      for (const r of rows) this.log(`${r.id.padEnd(w)}  ${r.severity.padEnd(7)}  ${r.title}`)
    }
    return rows
  }
}
