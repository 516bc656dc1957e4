import assert from 'node:assert/strict'
import {test} from 'node:test'

import {fail, ok} from '../../src/checks/lib/result.js'

test('fail() carries severity, evidence and fix', () => {
  const f = fail('error', 'FORWARD policy is DROP', {
    evidence: [{source: 'x', lines: [':FORWARD DROP [0:0]']}],
    fix: ['a'],
  })
  assert.equal(f.status, 'error')
  assert.deepEqual(f.fix, ['a'])
  assert.equal(ok('fine').status, 'ok')
  assert.equal(ok('fine').fix, undefined)
})
