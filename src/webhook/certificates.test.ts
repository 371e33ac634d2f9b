import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  certificatesFrom,
  issueCertificates,
  RENEW_WITHIN_DAYS,
  renewalNeeded,
  SECRET_KEYS,
  serviceNames,
  VALIDITY_DAYS,
} from './certificates.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const names = [...serviceNames({ namespace: 'kamaji-system', name: 'kamaji-webhook-service' }), '127.0.0.1'];
const options = { keyAlgorithm: 'ECDSA-P256' } as const;

describe('webhook certificates', () => {
  test('the serving certificate names the Service as the API server dials it, and the extra names', async () => {
    assert.deepEqual(names.slice(0, 2), [
      'kamaji-webhook-service.kamaji-system.svc',
      'kamaji-webhook-service.kamaji-system.svc.cluster.local',
    ]);
    const issued = await issueCertificates(undefined, 'ca', names, options);
    const serving = new X509Certificate(issued.serving.certificatePem);
    assert.equal(
      serving.subjectAltName,
      'DNS:kamaji-webhook-service.kamaji-system.svc, DNS:kamaji-webhook-service.kamaji-system.svc.cluster.local, IP Address:127.0.0.1',
    );
    assert.ok(serving.verify(new X509Certificate(issued.ca.certificatePem).publicKey));
    assert.equal(issued.caBundlePem, issued.ca.certificatePem);
  });

  test('nothing is issued while all holds; a missing key means a new CA', async () => {
    const issued = await issueCertificates(undefined, 'ca', names, options);
    assert.equal(renewalNeeded(issued, names), undefined);
    assert.equal(renewalNeeded(undefined, names), 'ca');
    const data = {
      [SECRET_KEYS.ca]: issued.caBundlePem,
      [SECRET_KEYS.caKey]: issued.ca.privateKeyPem,
      [SECRET_KEYS.certificate]: issued.serving.certificatePem,
      [SECRET_KEYS.key]: issued.serving.privateKeyPem,
    };
    assert.deepEqual(certificatesFrom(data), issued);
    assert.equal(certificatesFrom({ ...data, [SECRET_KEYS.caKey]: '' }), undefined);
  });

  test('the serving certificate is renewed before it expires, keeping the CA (caBundle unchanged)', async () => {
    const issued = await issueCertificates(undefined, 'ca', names, options);
    const soon = new Date(Date.now() + (VALIDITY_DAYS.serving - RENEW_WITHIN_DAYS.serving + 1) * DAY_MS);
    assert.equal(renewalNeeded(issued, names, new Date(soon.getTime() - 2 * DAY_MS)), undefined);
    assert.equal(renewalNeeded(issued, names, soon), 'serving');
    const renewed = await issueCertificates(issued, 'serving', names, options);
    assert.equal(renewed.caBundlePem, issued.caBundlePem);
    assert.notEqual(renewed.serving.certificatePem, issued.serving.certificatePem);
  });

  test('a serving certificate missing a name, or signed by another CA, is issued again', async () => {
    const issued = await issueCertificates(undefined, 'ca', names, options);
    assert.equal(renewalNeeded(issued, [...names, 'other.example']), 'serving');
    const stranger = await issueCertificates(undefined, 'ca', names, options);
    assert.equal(renewalNeeded({ ...issued, serving: stranger.serving }, names), 'serving');
  });

  test('a CA near its end is replaced, and the bundle trusts the old one too until it expires', async () => {
    const issued = await issueCertificates(undefined, 'ca', names, options);
    const late = new Date(Date.now() + (VALIDITY_DAYS.ca - RENEW_WITHIN_DAYS.ca + 1) * DAY_MS);
    assert.equal(renewalNeeded(issued, names, late), 'ca');
    const rotated = await issueCertificates(issued, 'ca', names, options);
    assert.notEqual(rotated.ca.certificatePem, issued.ca.certificatePem);
    assert.equal(rotated.caBundlePem, `${rotated.ca.certificatePem}${issued.ca.certificatePem}`);
    assert.deepEqual(
      certificatesFrom({
        [SECRET_KEYS.ca]: rotated.caBundlePem,
        [SECRET_KEYS.caKey]: rotated.ca.privateKeyPem,
        [SECRET_KEYS.certificate]: rotated.serving.certificatePem,
        [SECRET_KEYS.key]: rotated.serving.privateKeyPem,
      })?.ca,
      rotated.ca,
    );
  });
});
