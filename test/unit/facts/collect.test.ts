import assert from 'node:assert/strict'
import {test} from 'node:test'

import {captureBundle, redactPsk} from '../../../src/collect/collect.js'
import type {ProbeId} from '../../../src/facts/probes.js'
import {bundleSource, type EvidenceSource, type RawCapture} from '../../../src/facts/sources.js'

const PSK = 'super-secret-psk-'.repeat(7)
const KEY = '0x0123456789abcdef0123456789abcdef'

function source(answers: Partial<Record<ProbeId, RawCapture>>): EvidenceSource {
  return {
    origin: 'fake',
    async host() {
      return {origin: 'fake', nodeName: 'n1'}
    },
    async capture(id) {
      return answers[id] ?? {ok: false, state: 'absent', reason: `${id} is not there`, source: `/x/${id}`}
    },
  }
}

test('collect never writes a planted secret, and records every probe outcome', async () => {
  const {files, manifest} = await captureBundle(
    source({
      'net-conf': {
        ok: true,
        text: JSON.stringify({Network: '10.244.0.0/16', Backend: {Type: 'ipsec', PSK}}),
        source: 'nc',
      },
      'xfrm-state': {
        ok: true,
        text: `src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x1 reqid 11 mode tunnel\n\tenc cbc(aes) ${KEY}\n`,
        source: 'ip xfrm state',
      },
      logs: {
        ok: true,
        text: '',
        files: [
          {name: '/run/flannel/wgkey', text: 'PRIVATEKEY'},
          {name: 'flannel.log', text: 'ok\n'},
        ],
        source: 'logs',
      },
    }),
    {now: new Date('2026-01-01T00:00:00Z')},
  )
  const all = [...files.values()].join('\n')
  assert.ok(!all.includes(PSK), 'PSK leaked')
  assert.ok(!all.includes(KEY.slice(2)), 'xfrm key leaked')
  assert.ok(!all.includes('PRIVATEKEY'), 'wgkey leaked')
  assert.match(files.get('files/etc/kube-flannel/net-conf.json') ?? '', /"PSK":"sha256:[0-9a-f]{64}"/)
  assert.equal(files.get('logs/flannel.log'), 'ok\n')
  assert.equal(manifest.probes?.['subnet-env']?.outcome, 'missing')
  // What collect wrote, a bundle reads back: the absent subnet.env is known to be absent.
  const back = await bundleSource('b', files).capture('subnet-env')
  assert.ok(!back.ok && back.state === 'absent')
})

test('redactPsk keeps equal keys comparable and leaves digests alone', () => {
  const a = redactPsk('{"PSK": "abc"}')
  assert.equal(a, redactPsk('{"PSK": "abc"}'))
  assert.notEqual(a, redactPsk('{"PSK": "abd"}'))
  assert.equal(redactPsk(a), a)
  assert.match(redactPsk('{"psk":"x"}'), /sha256:/)
})
