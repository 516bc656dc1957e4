#!/usr/bin/env node
// kubectl plugin entry: `kubectl flannel doctor ...` runs `flannelctl doctor ...` (kubectl finds
// kubectl-flannel on PATH and passes the remaining arguments).
import {execute} from '@oclif/core'

await execute({dir: new URL('./run.js', import.meta.url).href})
