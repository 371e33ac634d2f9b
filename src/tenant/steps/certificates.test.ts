import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { sampleContext } from '../../../test/support/tenant-context.ts';
import { objectNames } from '../names.ts';
import {
  apiServerSubjectAltNames,
  type DesiredSecret,
  desiredCertificateSecrets,
  type SecretText,
} from './certificates.ts';

const context = sampleContext();
const names = objectNames(context.name);
const asMap = (secrets: DesiredSecret[]) =>
  new Map<string, SecretText>(secrets.map((secret) => [secret.name, secret.data]));
const dataOf = (secrets: DesiredSecret[], name: string): SecretText => {
  const found = secrets.find((secret) => secret.name === name);
  assert.ok(found, `${name} is desired`);
  return found.data;
};

describe('tenant certificates', () => {
  test('the API server certificate names the Service in every form, the service IP, the endpoint and certSANs', async () => {
    const secrets = await desiredCertificateSecrets(context, new Map(), { rotate: false });
    const data = dataOf(secrets, names.apiServerCertificateSecret);
    const certificate = new X509Certificate(data['apiserver.crt'] ?? '');
    for (const name of [
      'acme',
      'acme.tenants',
      'acme.tenants.svc',
      'acme.tenants.svc.cluster.local',
      'kubernetes.default.svc.cluster.local',
      'localhost',
      'api.acme.example',
    ]) {
      assert.equal(certificate.checkHost(name), name, `SAN ${name}`);
    }
    for (const ip of ['10.96.0.1', '10.0.0.50', '127.0.0.1']) assert.equal(certificate.checkIP(ip), ip, `SAN ${ip}`);
    assert.deepEqual(certificate.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    const ca = new X509Certificate(dataOf(secrets, names.caSecret)['ca.crt'] ?? '');
    assert.ok(certificate.checkIssued(ca) && certificate.verify(ca.publicKey));
  });

  test('the CA Secret carries kubeadm names and the tls.crt/tls.key that Cluster API reads', async () => {
    const secrets = await desiredCertificateSecrets(context, new Map(), { rotate: false });
    const ca = dataOf(secrets, names.caSecret);
    assert.deepEqual(Object.keys(ca).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    assert.equal(ca['tls.crt'], ca['ca.crt']);
    assert.deepEqual(
      secrets.map((secret) => secret.name),
      [
        'acme-ca',
        'acme-front-proxy-ca-certificate',
        'acme-sa-certificate',
        'acme-api-server-certificate',
        'acme-api-server-kubelet-client-certificate',
        'acme-front-proxy-client-certificate',
      ],
    );
    const frontProxyClient = new X509Certificate(
      dataOf(secrets, names.frontProxyClientCertificateSecret)['front-proxy-client.crt'] ?? '',
    );
    const frontProxyCa = new X509Certificate(dataOf(secrets, names.frontProxyCaSecret)['front-proxy-ca.crt'] ?? '');
    assert.ok(frontProxyClient.checkIssued(frontProxyCa), 'front-proxy client is issued by the front-proxy CA');
  });

  test('a second pass keeps everything byte for byte', async () => {
    const first = await desiredCertificateSecrets(context, new Map(), { rotate: false });
    const second = await desiredCertificateSecrets(context, asMap(first), { rotate: false });
    assert.deepEqual(second, first);
  });

  test('rotation renews the leaves but keeps the CAs and the service-account key', async () => {
    const first = await desiredCertificateSecrets(context, new Map(), { rotate: false });
    const rotated = await desiredCertificateSecrets(context, asMap(first), { rotate: true });
    assert.deepEqual(dataOf(rotated, names.caSecret), dataOf(first, names.caSecret));
    assert.deepEqual(dataOf(rotated, names.serviceAccountSecret), dataOf(first, names.serviceAccountSecret));
    assert.notEqual(
      dataOf(rotated, names.apiServerCertificateSecret)['apiserver.crt'],
      dataOf(first, names.apiServerCertificateSecret)['apiserver.crt'],
    );
  });

  test('a leaf close to expiry, with changed SANs, or tampered with is reissued', async () => {
    const first = await desiredCertificateSecrets(context, new Map(), { rotate: false });
    const apiserverCrt = (secrets: DesiredSecret[]) =>
      dataOf(secrets, names.apiServerCertificateSecret)['apiserver.crt'];

    const later = await desiredCertificateSecrets(context, asMap(first), {
      rotate: false,
      now: new Date(Date.now() + 340 * 86_400_000),
    });
    assert.notEqual(apiserverCrt(later), apiserverCrt(first), 'renewed 30 days before expiry');

    const moreSans = await desiredCertificateSecrets(sampleContext({ certSANs: ['other.example'] }), asMap(first), {
      rotate: false,
    });
    assert.notEqual(apiserverCrt(moreSans), apiserverCrt(first), 'reissued for new SANs');
    assert.ok(new X509Certificate(apiserverCrt(moreSans) ?? '').checkHost('other.example'));

    const tampered = asMap(first);
    tampered.set(names.apiServerCertificateSecret, { 'apiserver.crt': 'garbage', 'apiserver.key': 'garbage' });
    const repaired = await desiredCertificateSecrets(context, tampered, { rotate: false });
    assert.doesNotThrow(() => new X509Certificate(apiserverCrt(repaired) ?? ''));
  });

  test('SANs have no duplicates', () => {
    const sans = apiServerSubjectAltNames(
      sampleContext({ advertiseAddress: '10.0.0.50', certSANs: ['10.0.0.50', 'localhost'] }),
    );
    assert.equal(sans.length, new Set(sans).size);
  });
});
