import assert from 'node:assert/strict'

import {KubeError} from '../../src/k8s/client.js'

/** The KubeError a call rejects with, after checking it is one line and carries no stack. */
export async function rejectsKube(p: Promise<unknown>): Promise<KubeError> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof KubeError, `expected a KubeError, got ${String(e)}`)
    assert.ok(!e.message.includes('\n'), `message is not one line: ${e.message}`)
    assert.ok(!/\bat .*\.(js|ts):\d+/.test(e.message), 'message carries a stack')
    return e
  }
  assert.fail('expected the call to fail')
}
