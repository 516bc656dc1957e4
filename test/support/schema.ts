import {readFileSync} from 'node:fs'

import {Ajv2020} from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

const schema = JSON.parse(
  readFileSync(new URL('../../schemas/doctor-report.v1.json', import.meta.url), 'utf8'),
) as object
const ajv = new Ajv2020({allErrors: true, strict: true})
;(addFormats as unknown as (a: Ajv2020) => void)(ajv)
const validate = ajv.compile(schema)
const clusterSchema = JSON.parse(
  readFileSync(new URL('../../schemas/cluster-report.v1.json', import.meta.url), 'utf8'),
) as object
const validateCluster = ajv.compile(clusterSchema)

/** Throws with every schema violation when the report does not match schemas/doctor-report.v1.json. */
export function assertValidReport(report: unknown): void {
  if (!validate(report))
    throw new Error('report does not match schemas/doctor-report.v1.json: ' + ajv.errorsText(validate.errors))
}

/** Throws with every schema violation when the report does not match schemas/cluster-report.v1.json. */
export function assertValidClusterReport(report: unknown): void {
  if (!validateCluster(report))
    throw new Error(
      'report does not match schemas/cluster-report.v1.json: ' + ajv.errorsText(validateCluster.errors),
    )
}
