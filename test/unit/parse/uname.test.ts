import assert from 'node:assert/strict'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {kernelVersion, parseUname} from '../../../src/parse/uname.js'
import {fx} from './helpers.js'

test('uname -a / -r (captured) and uname -a from k3s#6507', () => {
  assert.deepEqual(parseUname(fx('uname/a.txt')), {
    release: '6.18.44-fc-v669',
    machine: 'x86_64',
    raw: 'Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux',
  })
  assert.deepEqual(parseUname(fx('uname/r.txt')), {release: '6.18.44-fc-v669', raw: '6.18.44-fc-v669'})
  const u = parseUname(fx('uname/k3s-6507-ubuntu.txt'))
  assert.equal(u.release, '5.15.0-52-generic')
  assert.equal(u.machine, 'x86_64')
})

test('kernel versions of releases quoted in flannel issues', () => {
  assert.deepEqual(kernelVersion('4.18.0-305.19.1.el8_4.x86_64'), [4, 18, 0]) // flannel-io/flannel#1492
  assert.deepEqual(kernelVersion('3.10.0-693.5.2.el7'), [3, 10, 0]) // kubernetes-sigs/kubespray#2067
  assert.deepEqual(kernelVersion('6.18.44-fc-v669'), [6, 18, 44])
  assert.equal(kernelVersion('garbage'), undefined)
})

test('uname: empty or foreign text is a ParseError', () => {
  assert.throws(() => parseUname(''), ParseError)
  assert.throws(() => parseUname('Darwin mac 23.1.0 Darwin Kernel Version 23.1.0 arm64\n'), ParseError)
})
