import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { sampleContext } from '../../../test/support/tenant-context.ts';
import { createCertificateAuthority } from '../../pki/certificates.ts';
import type { Kubeconfig } from '../../pki/kubeconfig.ts';
import type { SecretText } from './certificates.ts';
import { desiredKubeconfigSecrets } from './kubeconfigs.ts';

const context = sampleContext({ endpointAddress: '192.168.1.2', endpointPort: 31443 });

test('admin kubeconfigs point outside at the endpoint and inside at the Service; components at localhost', async () => {
  const ca = await createCertificateAuthority('kubernetes', { validityDays: 10 });
  const secrets = await desiredKubeconfigSecrets(context, ca, new Map(), { rotate: false });
  const admin = secrets.find((secret) => secret.name === 'acme-admin-kubeconfig')?.data ?? {};
  assert.deepEqual(Object.keys(admin), ['admin.conf', 'admin.svc', 'super-admin.conf', 'super-admin.svc']);
  const server = (yaml: string | undefined) => (parse(yaml ?? '') as Kubeconfig).clusters[0]?.cluster.server;
  assert.equal(server(admin['admin.conf']), 'https://192.168.1.2:31443');
  assert.equal(server(admin['admin.svc']), 'https://acme.tenants.svc:6443');
  const controllerManager = secrets.find((secret) => secret.name === 'acme-controller-manager-kubeconfig')?.data ?? {};
  const config = parse(controllerManager['controller-manager.conf'] ?? '') as Kubeconfig;
  assert.equal(config.clusters[0]?.cluster.server, 'https://localhost:6443');
  const certificate = new X509Certificate(
    Buffer.from(config.users[0]?.user['client-certificate-data'] ?? '', 'base64'),
  );
  assert.equal(certificate.subject, 'CN=system:kube-controller-manager');
  assert.ok(certificate.checkIssued(new X509Certificate(ca.certificatePem)));
});

test('kubeconfigs are kept on a second pass and reissued when the endpoint moves', async () => {
  const ca = await createCertificateAuthority('kubernetes', { validityDays: 10 });
  const first = await desiredKubeconfigSecrets(context, ca, new Map(), { rotate: false });
  const existing = new Map<string, SecretText>(first.map((secret) => [secret.name, secret.data]));
  assert.deepEqual(await desiredKubeconfigSecrets(context, ca, existing, { rotate: false }), first);
  const moved = await desiredKubeconfigSecrets({ ...context, endpointPort: 31500 }, ca, existing, { rotate: false });
  const adminConf = (secrets: typeof first) => secrets[0]?.data['admin.conf'] ?? '';
  assert.match(adminConf(moved), /server: "https:\/\/192\.168\.1\.2:31500"/);
  assert.equal(
    moved[1]?.data['controller-manager.conf'],
    first[1]?.data['controller-manager.conf'],
    'unaffected ones kept',
  );
});

test('a stored kubeconfig written with other quoting (or by another YAML writer) is read, not reissued', async () => {
  const ca = await createCertificateAuthority('kubernetes', { validityDays: 10 });
  const first = await desiredKubeconfigSecrets(context, ca, new Map(), { rotate: false });
  // The same documents as a general YAML writer prints them: plain and single-quoted scalars, other key order.
  const requoted = (yaml: string) => {
    const { users, clusters, ...rest } = parse(yaml) as Kubeconfig;
    return stringify({ users, ...rest, clusters }, { defaultStringType: 'QUOTE_SINGLE', defaultKeyType: 'PLAIN' });
  };
  const existing = new Map<string, SecretText>(
    first.map((secret) => [
      secret.name,
      Object.fromEntries(Object.entries(secret.data).map(([key, yaml]) => [key, requoted(yaml)])),
    ]),
  );
  assert.doesNotMatch(existing.get('acme-admin-kubeconfig')?.['admin.conf'] ?? '', /"/);
  assert.deepEqual(await desiredKubeconfigSecrets(context, ca, existing, { rotate: false }), first);
});

test('admin.conf is a kubeadm:cluster-admins member (revocable by its binding); only super-admin.conf is system:masters; an old system:masters admin.conf is reissued', async () => {
  const ca = await createCertificateAuthority('kubernetes', { validityDays: 10 });
  const subjectOf = (yaml: string | undefined) =>
    new X509Certificate(
      Buffer.from((parse(yaml ?? '') as Kubeconfig).users[0]?.user['client-certificate-data'] ?? '', 'base64'),
    ).subject;
  const secrets = await desiredKubeconfigSecrets(context, ca, new Map(), { rotate: false });
  const admin = secrets.find((secret) => secret.name === 'acme-admin-kubeconfig')?.data ?? {};
  assert.equal(subjectOf(admin['admin.conf']), 'O=kubeadm:cluster-admins\nCN=kubernetes-admin');
  assert.equal(subjectOf(admin['admin.svc']), 'O=kubeadm:cluster-admins\nCN=kubernetes-admin');
  assert.equal(subjectOf(admin['super-admin.conf']), 'O=system:masters\nCN=kubernetes-super-admin');
  // A tenant from before this change stored admin.conf with super-admin's system:masters certificate.
  const old = { ...admin, 'admin.conf': admin['super-admin.conf'] ?? '' };
  const again = await desiredKubeconfigSecrets(context, ca, new Map([['acme-admin-kubeconfig', old]]), {
    rotate: false,
  });
  const reissued = again.find((secret) => secret.name === 'acme-admin-kubeconfig')?.data ?? {};
  assert.match(subjectOf(reissued['admin.conf']), /O=kubeadm:cluster-admins/);
  assert.equal(reissued['super-admin.conf'], admin['super-admin.conf'], 'super-admin.conf is kept');
});
