import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { parse } from 'yaml';
import { defaultedDeployment, sampleContext } from '../../../test/support/tenant-context.ts';
import { applyTenantControlPlaneDefaults } from '../../api/v1alpha1/defaults.ts';
import { createCertificateAuthority } from '../../pki/certificates.ts';
import { readSingleKubeconfig } from '../../pki/kubeconfig.ts';
import type { TenantContext } from '../context.ts';
import { objectNames } from '../names.ts';
import { desiredDeployment } from './deployment.ts';
import {
  desiredEgressSelectorConfigMap,
  desiredKonnectivitySecrets,
  egressSelectorConfiguration,
  KONNECTIVITY_DEFAULT_VERSION,
  konnectivityServerFlags,
} from './konnectivity.ts';
import { desiredService } from './service.ts';

function defaultedServer(server: Record<string, unknown> = {}) {
  const spec = applyTenantControlPlaneDefaults({
    controlPlane: { service: { serviceType: 'ClusterIP' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
    addons: { konnectivity: Object.keys(server).length ? { server: server as { port: number } } : {} },
  });
  const konnectivity = spec.addons?.konnectivity;
  assert.ok(konnectivity);
  return konnectivity.server;
}

const withKonnectivity = (server: Record<string, unknown> = {}, overrides: Partial<TenantContext> = {}) =>
  sampleContext({ konnectivity: defaultedServer(server), ...overrides });

test('the server spec is defaulted as upstream: image proxy-server, port 8132', () => {
  assert.deepEqual(defaultedServer(), { image: 'registry.k8s.io/kas-network-proxy/proxy-server', port: 8132 });
  assert.equal(defaultedServer({ port: 9000 }).image, 'registry.k8s.io/kas-network-proxy/proxy-server');
});

test('without Konnectivity the pod, the API server flags and the Service have nothing of it', () => {
  const deployment = desiredDeployment({ context: sampleContext(), podTemplateChecksum: 'x' });
  const pod = deployment.spec?.template.spec;
  assert.deepEqual(
    pod?.containers.map((container) => container.name),
    ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
  );
  const apiServer = pod?.containers[0];
  assert.ok(!apiServer?.args?.some((arg) => arg.startsWith('--egress-selector-config-file')));
  assert.ok(!apiServer?.volumeMounts?.some((mount) => mount.name.startsWith('konnectivity')));
  assert.ok(!pod?.volumes?.some((volume) => /konnectivity|egress/.test(volume.name)));
  const service = desiredService({ tenant: { name: 'acme', namespace: 't', port: 6443 }, serviceType: 'NodePort' });
  assert.deepEqual(
    service.spec?.ports?.map((port) => port.name),
    ['kube-apiserver'],
  );
});

test('the server container: image, command, upstream flags, extraArgs merged with the managed ones winning', () => {
  const context = withKonnectivity(
    {
      port: 8132,
      version: 'v0.33.1',
      extraArgs: ['--agent-port=1', '--keepalive-time=30s', '--proxy-strategies=destHost,default'],
      resources: { requests: { cpu: '10m' } },
      securityContext: { runAsNonRoot: true },
    },
    { deployment: { ...defaultedDeployment(), replicas: 3 } },
  );
  const pod = desiredDeployment({ context, podTemplateChecksum: 'x' }).spec?.template.spec;
  assert.deepEqual(
    pod?.containers.map((container) => container.name),
    ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'konnectivity-server'],
  );
  const server = pod?.containers[3];
  assert.equal(server?.image, 'registry.k8s.io/kas-network-proxy/proxy-server:v0.33.1');
  assert.deepEqual(server?.command, ['/proxy-server']);
  assert.deepEqual(server?.args, [
    '--logtostderr=true',
    '--uds-name=/run/konnectivity/konnectivity-server.socket',
    '--delete-existing-uds-file=true',
    '--cluster-cert=/etc/kubernetes/pki/apiserver.crt',
    '--cluster-key=/etc/kubernetes/pki/apiserver.key',
    '--mode=grpc',
    '--server-port=0',
    '--agent-port=8132',
    '--admin-port=8133',
    '--health-port=8134',
    '--agent-namespace=kube-system',
    '--agent-service-account=konnectivity-agent',
    '--kubeconfig=/etc/kubernetes/konnectivity-server.conf',
    '--authentication-audience=system:konnectivity-server',
    '--server-count=3',
    '--keepalive-time=30s',
    '--proxy-strategies=destHost,default',
  ]);
  assert.deepEqual(server?.resources, { requests: { cpu: '10m' } });
  assert.deepEqual(server?.securityContext, { runAsNonRoot: true });
  assert.deepEqual(server?.livenessProbe?.httpGet, { path: '/healthz', port: 8134, scheme: 'HTTP' });
  assert.deepEqual(
    server?.ports?.map((port) => [port.name, port.containerPort]),
    [
      ['agentport', 8132],
      ['adminport', 8133],
      ['healthport', 8134],
    ],
  );
  // Only the serving pair from the pki volume: not the CA keys.
  assert.deepEqual(
    server?.volumeMounts?.map((mount) => [mount.name, mount.mountPath, mount.subPath]),
    [
      ['pki', '/etc/kubernetes/pki/apiserver.crt', 'apiserver.crt'],
      ['pki', '/etc/kubernetes/pki/apiserver.key', 'apiserver.key'],
      ['konnectivity-server-kubeconfig', '/etc/kubernetes/konnectivity-server.conf', 'konnectivity-server.conf'],
      ['konnectivity-uds', '/run/konnectivity', undefined],
    ],
  );
});

test('the default tag is one exported constant; server-count is at least 1 when scaled to zero', () => {
  const context = withKonnectivity({ port: 8132 }, { deployment: { ...defaultedDeployment(), replicas: 0 } });
  const server = desiredDeployment({ context, podTemplateChecksum: 'x' }).spec?.template.spec?.containers[3];
  assert.equal(server?.image, `registry.k8s.io/kas-network-proxy/proxy-server:${KONNECTIVITY_DEFAULT_VERSION}`);
  assert.equal(KONNECTIVITY_DEFAULT_VERSION, 'v0.34.0');
  assert.equal(konnectivityServerFlags(context, defaultedServer())['server-count'], '1');
});

test('the API server gets the egress selector flag, the shared socket directory and the ConfigMap mounted', () => {
  const context = withKonnectivity({ port: 8132 });
  const pod = desiredDeployment({ context, podTemplateChecksum: 'x' }).spec?.template.spec;
  const apiServer = pod?.containers[0];
  assert.ok(
    apiServer?.args?.includes(
      '--egress-selector-config-file=/etc/kubernetes/konnectivity/configurations/egress-selector-configuration.yaml',
    ),
  );
  assert.deepEqual(
    apiServer?.volumeMounts?.slice(1).map((mount) => [mount.name, mount.mountPath]),
    [
      ['konnectivity-uds', '/run/konnectivity'],
      ['egress-selector-configuration', '/etc/kubernetes/konnectivity/configurations'],
    ],
  );
  const volumes = new Map(pod?.volumes?.map((volume) => [volume.name, volume]));
  assert.deepEqual(volumes.get('konnectivity-uds')?.emptyDir, { medium: 'Memory' });
  assert.equal(
    volumes.get('egress-selector-configuration')?.configMap?.name,
    'acme-konnectivity-egress-selector-configuration',
  );
  assert.equal(volumes.get('konnectivity-server-kubeconfig')?.secret?.secretName, 'acme-konnectivity-kubeconfig');
  // An extra --egress-selector-config-file from the user does not replace the managed one.
  const extra = withKonnectivity({ port: 8132 });
  extra.deployment = {
    ...extra.deployment,
    extraArgs: { apiServer: ['--egress-selector-config-file=/tmp/mine.yaml'] },
  };
  const args = desiredDeployment({ context: extra, podTemplateChecksum: 'x' }).spec?.template.spec?.containers[0]?.args;
  assert.deepEqual(
    args?.filter((arg) => arg.startsWith('--egress-selector-config-file')),
    ['--egress-selector-config-file=/etc/kubernetes/konnectivity/configurations/egress-selector-configuration.yaml'],
  );
});

test('the egress selector configuration sends the cluster egress over the socket, in upstream ConfigMap', () => {
  assert.deepEqual(parse(egressSelectorConfiguration()), {
    apiVersion: 'apiserver.k8s.io/v1beta1',
    kind: 'EgressSelectorConfiguration',
    egressSelections: [
      {
        name: 'cluster',
        connection: {
          proxyProtocol: 'GRPC',
          transport: { uds: { udsName: '/run/konnectivity/konnectivity-server.socket' } },
        },
      },
    ],
  });
  const configMap = desiredEgressSelectorConfigMap(sampleContext());
  assert.equal(configMap.metadata?.name, 'acme-konnectivity-egress-selector-configuration');
  assert.equal(configMap.metadata?.labels?.['kamaji.clastix.io/name'], 'acme');
  assert.deepEqual(Object.keys(configMap.data ?? {}), ['egress-selector-configuration.yaml']);
});

test('the Service gets the konnectivity-server port after the API server port; the node port too for NodePort', () => {
  const tenant = { name: 'acme', namespace: 't', port: 6443 };
  for (const serviceType of ['ClusterIP', 'LoadBalancer', 'NodePort'] as const) {
    const ports = desiredService({ tenant, serviceType, konnectivityPort: 31132 }).spec?.ports;
    assert.equal(ports?.[0]?.name, 'kube-apiserver');
    assert.deepEqual(ports?.[1], {
      name: 'konnectivity-server',
      protocol: 'TCP',
      port: 31132,
      targetPort: 31132,
      ...(serviceType === 'NodePort' ? { nodePort: 31132 } : {}),
    });
  }
});

test('the certificate and kubeconfig Secrets: upstream names, the tenant CA, kept while good, renewed on rotate', async () => {
  const context = withKonnectivity({ port: 8132 });
  const ca = await createCertificateAuthority('kubernetes', { validityDays: 3650, keyAlgorithm: 'ECDSA-P256' });
  const first = await desiredKonnectivitySecrets(context, ca, new Map(), { rotate: false });
  const names = objectNames('acme');
  assert.deepEqual(
    first.map((secret) => [secret.name, secret.type, Object.keys(secret.data)]),
    [
      ['acme-konnectivity-certificate', 'kubernetes.io/tls', ['tls.crt', 'tls.key']],
      ['acme-konnectivity-kubeconfig', undefined, ['konnectivity-server.conf']],
    ],
  );
  assert.equal(names.konnectivityCertificateSecret, 'acme-konnectivity-certificate');
  const certificate = new X509Certificate(first[0]?.data['tls.crt'] ?? '');
  assert.equal(certificate.subject, 'CN=system:konnectivity-server');
  assert.ok(certificate.checkIssued(new X509Certificate(ca.certificatePem)));
  const kubeconfig = readSingleKubeconfig(first[1]?.data['konnectivity-server.conf'] ?? '');
  assert.equal(kubeconfig?.server, 'https://localhost:6443');
  assert.equal(kubeconfig?.clientCertificatePem, first[0]?.data['tls.crt'], 'the kubeconfig embeds that certificate');

  const existing = new Map(first.map((secret) => [secret.name, secret.data]));
  const again = await desiredKonnectivitySecrets(context, ca, existing, { rotate: false });
  assert.deepEqual(again, first, 'unchanged while good: no rewrite, no rollout');
  const rotated = await desiredKonnectivitySecrets(context, ca, existing, { rotate: true });
  assert.notEqual(rotated[0]?.data['tls.crt'], first[0]?.data['tls.crt']);
  const otherCa = await createCertificateAuthority('kubernetes', { validityDays: 3650, keyAlgorithm: 'ECDSA-P256' });
  const reissued = await desiredKonnectivitySecrets(context, otherCa, existing, { rotate: false });
  assert.ok(
    new X509Certificate(reissued[0]?.data['tls.crt'] ?? '').checkIssued(new X509Certificate(otherCa.certificatePem)),
  );
});
