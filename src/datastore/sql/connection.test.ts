import assert from 'node:assert/strict';
import { test } from 'node:test';
import { primaryEndpoint } from './connection.ts';

const at = (endpoint: string) => primaryEndpoint({ endpoints: [endpoint], caCertificatePem: '' }, 5432);

test('endpoints are host:port, the port defaulted, IPv6 in brackets', () => {
  assert.deepEqual(at('db.example:6432'), { host: 'db.example', port: 6432 });
  assert.deepEqual(at('10.0.0.1'), { host: '10.0.0.1', port: 5432 });
  assert.deepEqual(at('[::1]:5433'), { host: '::1', port: 5433 });
  assert.throws(() => at('postgres://x:1/db'), /spec.endpoints: postgres:\/\/x:1\/db is not host:port/);
  assert.throws(() => primaryEndpoint({ endpoints: [], caCertificatePem: '' }, 1), /spec.endpoints/);
});
