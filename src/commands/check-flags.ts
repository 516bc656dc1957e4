import {Flags} from '@oclif/core'

/** The flags every command that runs the check catalogue shares, with one wording. */
export const checkFlags = {
  only: Flags.string({
    summary: 'Run only these checks or areas (comma-separated or repeated)',
    multiple: true,
  }),
  skip: Flags.string({summary: 'Skip these checks or areas', multiple: true}),
  'fail-on': Flags.string({
    summary: 'Lowest level that makes the exit code 1',
    options: ['error', 'warning'],
    default: 'error',
  }),
  timeout: Flags.integer({
    summary: 'Time limit for each live probe, in milliseconds',
    default: 5000,
    min: 100,
  }),
}

/** `--only a,b --only c` → `[a, b, c]`. */
export const idList = (v: string[] | undefined): string[] =>
  (v ?? [])
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter(Boolean)
