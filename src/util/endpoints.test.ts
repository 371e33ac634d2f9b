import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointHostPort, etcdClientUrl, parseEndpoint } from './endpoints.ts';

test('endpoints: host:port, bracketed IPv6, with or without a scheme and a trailing slash', () => {
  assert.deepEqual(parseEndpoint('etcd-0.etcd:2379'), { host: 'etcd-0.etcd', port: 2379 });
  assert.deepEqual(parseEndpoint('[fd00::1]:2379'), { host: '[fd00::1]', port: 2379 });
  assert.deepEqual(parseEndpoint('HTTPS://10.0.0.5:2379/'), { scheme: 'https', host: '10.0.0.5', port: 2379 });
  assert.deepEqual(parseEndpoint('etcd-2'), { host: 'etcd-2' });
  for (const invalid of ['', ':2379', 'etcd:2379/path', 'user@etcd:2379', 'fd00::1:2379', 'a b:1']) {
    assert.equal(parseEndpoint(invalid), undefined, invalid);
  }
});

test('an etcd client URL carries exactly one https scheme, whatever the user wrote', () => {
  assert.equal(etcdClientUrl('etcd-0:2379'), 'https://etcd-0:2379');
  assert.equal(etcdClientUrl('https://etcd-0:2379'), 'https://etcd-0:2379');
  assert.equal(etcdClientUrl('http://etcd-0:2379/'), 'https://etcd-0:2379');
  assert.equal(etcdClientUrl('[fd00::1]:2379'), 'https://[fd00::1]:2379');
  assert.equal(endpointHostPort('https://etcd-0:2379'), 'etcd-0:2379');
});
