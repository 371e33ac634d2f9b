import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { createCertificateAuthority, createKeyPair, issueCertificate, needsRenewal } from './certificates.ts';

describe('certificates', () => {
  test('a CA is self-signed, marked as a CA, and valid for the requested days', async () => {
    const ca = await createCertificateAuthority('kubernetes', { validityDays: 10 });
    const certificate = new X509Certificate(ca.certificatePem);
    assert.equal(certificate.ca, true);
    assert.equal(certificate.subject, 'CN=kubernetes');
    assert.ok(certificate.verify(certificate.publicKey), 'self-signed');
    const days = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000;
    assert.ok(Math.abs(days - 10) < 0.01, `validity ${days} days`);
    assert.match(ca.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  test('a server certificate carries its DNS and IP SANs, server usage, and chains to its CA', async () => {
    const ca = await createCertificateAuthority('kubernetes', { validityDays: 10 });
    const leaf = await issueCertificate(ca, {
      commonName: 'kube-apiserver',
      subjectAltNames: ['kubernetes.default.svc', '10.96.0.1', 'localhost', '10.96.0.1', '::1'],
      usages: ['serverAuth'],
      validityDays: 5,
    });
    const certificate = new X509Certificate(leaf.certificatePem);
    const issuer = new X509Certificate(ca.certificatePem);
    assert.ok(certificate.verify(issuer.publicKey), 'signed by the CA');
    assert.ok(certificate.checkIssued(issuer));
    assert.equal(certificate.ca, false);
    assert.equal(certificate.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');
    assert.equal(certificate.checkIP('10.96.0.1'), '10.96.0.1');
    assert.equal(certificate.checkIP('::1'), '::1');
    assert.equal(certificate.checkHost('example.com'), undefined);
    assert.equal(certificate.subjectAltName?.split(', ').filter((name) => name === 'IP Address:10.96.0.1').length, 1);
    assert.deepEqual(certificate.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(certificate.publicKey.asymmetricKeyType, 'ec');
  });

  test('a client certificate names its user and groups', async () => {
    const ca = await createCertificateAuthority('kubernetes', { validityDays: 1 });
    const admin = await issueCertificate(ca, {
      commonName: 'kubernetes-admin',
      organizations: ['system:masters'],
      usages: ['clientAuth'],
      validityDays: 1,
    });
    const certificate = new X509Certificate(admin.certificatePem);
    assert.equal(certificate.subject, 'O=system:masters\nCN=kubernetes-admin');
    assert.deepEqual(certificate.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  });

  test('RSA-2048 works for both the CA and its leaves', async () => {
    const ca = await createCertificateAuthority('rsa-ca', { validityDays: 1, keyAlgorithm: 'RSA-2048' });
    const leaf = await issueCertificate(ca, {
      commonName: 'x',
      usages: ['clientAuth'],
      validityDays: 1,
      keyAlgorithm: 'RSA-2048',
    });
    const certificate = new X509Certificate(leaf.certificatePem);
    assert.equal(certificate.publicKey.asymmetricKeyType, 'rsa');
    assert.ok(certificate.verify(new X509Certificate(ca.certificatePem).publicKey));
  });

  test('an ECDSA CA can sign an RSA leaf', async () => {
    const ca = await createCertificateAuthority('ec-ca', { validityDays: 1 });
    const leaf = await issueCertificate(ca, {
      commonName: 'x',
      usages: ['clientAuth'],
      validityDays: 1,
      keyAlgorithm: 'RSA-2048',
    });
    assert.ok(new X509Certificate(leaf.certificatePem).verify(new X509Certificate(ca.certificatePem).publicKey));
  });

  test('needsRenewal is true close to expiry, before validity, and for garbage', async () => {
    const ca = await createCertificateAuthority('kubernetes', { validityDays: 30 });
    assert.equal(needsRenewal(ca.certificatePem, 7), false);
    assert.equal(needsRenewal(ca.certificatePem, 31), true);
    assert.equal(needsRenewal(ca.certificatePem, 7, new Date(Date.now() + 25 * 86_400_000)), true);
    assert.equal(needsRenewal(ca.certificatePem, 7, new Date(Date.now() - 86_400_000)), true);
    assert.equal(needsRenewal('not a certificate', 7), true);
  });

  test('a key pair exports PEM private and public keys', async () => {
    const pair = await createKeyPair();
    assert.match(pair.privateKeyPem, /BEGIN PRIVATE KEY/);
    assert.match(pair.publicKeyPem, /BEGIN PUBLIC KEY/);
  });
});
