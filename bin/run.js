#!/usr/bin/env node
// The only place that may end the process: oclif's execute() sets the exit code from the command.
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
