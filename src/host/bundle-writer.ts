/**
 * Writes bundle files to a folder or a .tar.gz, all or nothing: everything goes into a temporary folder
 * next to the target first, and only a complete bundle is renamed (or archived) into place.
 */
import {mkdir, mkdtemp, rename, rm, writeFile, stat} from 'node:fs/promises'
import {dirname, join, basename, resolve} from 'node:path'
import {c as tarCreate} from 'tar'

export async function writeBundle(target: string, files: ReadonlyMap<string, string>): Promise<void> {
  const abs = resolve(target)
  const parent = dirname(abs)
  await mkdir(parent, {recursive: true})
  const tmp = await mkdtemp(join(parent, `.${basename(abs)}.tmp-`))
  try {
    for (const [rel, text] of files) {
      if (rel.startsWith('/') || rel.split('/').includes('..')) throw new Error(`refusing bundle path ${rel}`)
      const p = join(tmp, rel)
      await mkdir(dirname(p), {recursive: true})
      await writeFile(p, text, {mode: 0o600})
    }
    if (/\.(tar\.gz|tgz)$/.test(abs)) {
      const part = `${abs}.part`
      await tarCreate({gzip: true, file: part, cwd: tmp, portable: true}, [...files.keys()].sort())
      await rename(part, abs)
    } else {
      const exists = await stat(abs).then(
        () => true,
        () => false,
      )
      if (exists) throw new Error(`${target} already exists; choose a new folder or a .tar.gz name`)
      await rename(tmp, abs)
      return
    }
  } finally {
    await rm(tmp, {recursive: true, force: true})
  }
}
