import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultedDeployment, sampleContext } from '../../../test/support/tenant-context.ts';
import { KINE_VERSION } from '../../toolchain/versions.ts';
import { apiServerFlags, desiredDeployment, mergeArgs } from './deployment.ts';

test('managed flags win over extraArgs; other extra flags, bare or with values, are kept', () => {
  const managed = { 'etcd-prefix': '/t1', 'secure-port': '6443' };
  const extra = ['--etcd-prefix=/other', '--v=4', '--enable-priority-and-fairness', '-feature-gates=A=true'];
  assert.deepEqual(mergeArgs(managed, extra), [
    '--etcd-prefix=/t1',
    '--secure-port=6443',
    '--v=4',
    '--enable-priority-and-fairness',
    '--feature-gates=A=true',
  ]);
});

test('the API server is confined to the tenant prefix and trusts the tenant CA', () => {
  const flags = apiServerFlags(sampleContext());
  assert.equal(flags['etcd-prefix'], '/tenants_acme');
  assert.equal(flags['etcd-servers'], 'https://127.0.0.1:2379');
  assert.equal(flags['client-ca-file'], '/etc/kubernetes/pki/ca.crt');
  assert.equal(flags['service-account-issuer'], 'https://kubernetes.default.svc.cluster.local');
  assert.equal(flags['enable-admission-plugins'], 'NamespaceLifecycle,NodeRestriction');
  assert.equal(flags['kubelet-preferred-address-types'], 'InternalIP,ExternalIP,Hostname');
});

test('etcd servers get one https scheme, also from an endpoint the user wrote with one', () => {
  const endpoints = ['etcd-0:2379', 'https://etcd-1:2379', 'HTTPS://[fd00::2]:2379/'];
  const flags = apiServerFlags(sampleContext({ datastore: { driver: 'etcd', endpoints, schema: 'tenants_acme' } }));
  assert.equal(flags['etcd-servers'], 'https://etcd-0:2379,https://etcd-1:2379,https://[fd00::2]:2379');
});

test('the Deployment runs the three components on upstream images with a rolling update that never drops a replica', () => {
  const deployment = desiredDeployment({
    context: sampleContext({ deployment: { ...defaultedDeployment(), replicas: 3 } }),
    podTemplateChecksum: 'abc',
  });
  const spec = deployment.spec;
  assert.equal(deployment.metadata?.name, 'acme');
  assert.equal(spec?.replicas, 3);
  assert.deepEqual(spec?.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '100%' } });
  assert.equal(spec?.template.metadata?.annotations?.['kamaji.clastix.io/pod-template-checksum'], 'abc');
  assert.deepEqual(spec?.selector.matchLabels, spec?.template.metadata?.labels);
  const containers = spec?.template.spec?.containers ?? [];
  assert.deepEqual(
    containers.map((container) => container.image),
    [
      'registry.k8s.io/kube-apiserver:v1.35.4',
      'registry.k8s.io/kube-controller-manager:v1.35.4',
      'registry.k8s.io/kube-scheduler:v1.35.4',
    ],
  );
  const apiserver = containers[0];
  assert.equal(apiserver?.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(apiserver?.livenessProbe?.httpGet?.path, '/livez');
  assert.equal(apiserver?.readinessProbe?.httpGet?.scheme, 'HTTPS');
});

test('the pod mounts every certificate Secret by its upstream name', () => {
  const deployment = desiredDeployment({ context: sampleContext(), podTemplateChecksum: 'x' });
  const volumes = deployment.spec?.template.spec?.volumes ?? [];
  const projected = volumes
    .find((volume) => volume.name === 'pki')
    ?.projected?.sources?.map((source) => source.secret?.name);
  assert.deepEqual(projected, [
    'acme-ca',
    'acme-front-proxy-ca-certificate',
    'acme-sa-certificate',
    'acme-api-server-certificate',
    'acme-api-server-kubelet-client-certificate',
    'acme-front-proxy-client-certificate',
    'acme-datastore-certificate',
  ]);
  const secretVolumes = volumes.filter((volume) => volume.secret).map((volume) => volume.secret?.secretName);
  assert.deepEqual(secretVolumes, ['acme-controller-manager-kubeconfig', 'acme-scheduler-kubeconfig']);
});

test("the user's scheduling, metadata, resources and additions reach the pod; managed labels stay", () => {
  const deployment = desiredDeployment({
    podTemplateChecksum: 'x',
    context: sampleContext({
      deployment: {
        ...defaultedDeployment(),
        nodeSelector: { pool: 'control-planes' },
        tolerations: [{ key: 'dedicated', operator: 'Exists' }],
        serviceAccountName: 'tenant-sa',
        podAdditionalMetadata: {
          labels: { team: 'a', 'kamaji.clastix.io/name': 'spoofed' },
          annotations: { note: 'n' },
        },
        resources: { apiServer: { requests: { cpu: '250m' } } },
        registrySettings: { ...defaultedDeployment().registrySettings, registry: 'mirror.local', tagSuffix: '-custom' },
        additionalContainers: [{ name: 'sidecar', image: 'busybox' }],
        additionalVolumes: [{ name: 'extra', emptyDir: {} }],
        additionalVolumeMounts: { scheduler: [{ name: 'extra', mountPath: '/extra' }] },
      },
    }),
  });
  const pod = deployment.spec?.template;
  assert.deepEqual(pod?.spec?.nodeSelector, { pool: 'control-planes' });
  assert.equal(pod?.spec?.serviceAccountName, 'tenant-sa');
  assert.equal(pod?.metadata?.labels?.team, 'a');
  assert.equal(pod?.metadata?.labels?.['kamaji.clastix.io/name'], 'acme', 'the selector label cannot be overridden');
  assert.equal(pod?.metadata?.annotations?.note, 'n');
  const [apiserver, , scheduler, sidecar] = pod?.spec?.containers ?? [];
  assert.equal(apiserver?.image, 'mirror.local/kube-apiserver:v1.35.4-custom');
  assert.deepEqual(apiserver?.resources, { requests: { cpu: '250m' } });
  assert.deepEqual(scheduler?.volumeMounts?.at(-1), { name: 'extra', mountPath: '/extra' });
  assert.equal(sidecar?.name, 'sidecar');
  assert.equal(pod?.spec?.volumes?.at(-1)?.name, 'extra');
});

test('Secret files are mounted 0644 (defaultMode is decimal 420 in the API), as kubeadm and upstream Kamaji do', () => {
  const volumes = desiredDeployment({ context: sampleContext(), podTemplateChecksum: 'x' }).spec?.template.spec
    ?.volumes;
  const modes = (volumes ?? []).map((volume) => volume.projected?.defaultMode ?? volume.secret?.defaultMode);
  assert.deepEqual(modes, [420, 420, 420]);
  assert.equal((420).toString(8), '644');
});

test('replicas spread over admin nodes by default, softly, counting only this tenant and this rollout', () => {
  const pod = desiredDeployment({ context: sampleContext(), podTemplateChecksum: 'x' }).spec?.template;
  assert.deepEqual(pod?.spec?.topologySpreadConstraints, [
    {
      maxSkew: 1,
      topologyKey: 'kubernetes.io/hostname',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: pod?.metadata?.labels },
      matchLabelKeys: ['pod-template-hash'],
    },
  ]);
  assert.equal(pod?.spec?.affinity, undefined);
});

test("the spec's own spread constraints or affinity replace the default spread", () => {
  const own = [{ maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }];
  const withOwn = desiredDeployment({
    context: sampleContext({ deployment: { ...defaultedDeployment(), topologySpreadConstraints: own } }),
    podTemplateChecksum: 'x',
  }).spec?.template.spec;
  assert.deepEqual(withOwn?.topologySpreadConstraints, own);
  const affinity = {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'kamaji.clastix.io/name': 'acme' } } },
      ],
    },
  };
  const withAffinity = desiredDeployment({
    context: sampleContext({ deployment: { ...defaultedDeployment(), affinity } }),
    podTemplateChecksum: 'x',
  }).spec?.template.spec;
  assert.deepEqual(withAffinity?.affinity, affinity);
  assert.equal(withAffinity?.topologySpreadConstraints, undefined);
});

test('the API server keeps serving 5 s after SIGTERM (readyz failing) unless extraArgs says otherwise', () => {
  const args = (extra?: string[]) =>
    desiredDeployment({
      context: sampleContext({
        deployment: { ...defaultedDeployment(), ...(extra ? { extraArgs: { apiServer: extra } } : {}) },
      }),
      podTemplateChecksum: 'x',
    }).spec?.template.spec?.containers[0]?.args ?? [];
  assert.ok(args().includes('--shutdown-delay-duration=5s'));
  const own = args(['--shutdown-delay-duration=15s', '--v=2']);
  assert.deepEqual(
    own.filter((arg) => arg.startsWith('--shutdown-delay-duration')),
    ['--shutdown-delay-duration=15s'],
  );
  assert.ok(own.includes('--v=2'));
  const pod = desiredDeployment({ context: sampleContext(), podTemplateChecksum: 'x' }).spec?.template.spec;
  assert.equal(pod?.terminationGracePeriodSeconds, undefined, 'the default 30 s grace period covers the 5 s delay');
});

test('an etcd tenant has no kine container: the API server reaches etcd itself', () => {
  const pod = desiredDeployment({ context: sampleContext(), podTemplateChecksum: 'x' }).spec?.template.spec;
  assert.equal(
    pod?.containers.some((container) => container.name === 'kine'),
    false,
  );
  assert.equal(
    pod?.volumes?.some((volume) => volume.name === 'kine-certificates'),
    false,
  );
});

test('a PostgreSQL tenant runs kine (named as upstream) on loopback over TLS, the password only from the Secret', () => {
  const deployment = { ...defaultedDeployment(), extraArgs: { kine: ['--datastore-poll-interval=2s'] } };
  const context = sampleContext({
    deployment,
    datastore: { driver: 'PostgreSQL', endpoints: ['pg.example:5432'], schema: 'acme_db' },
  });
  const pod = desiredDeployment({ context, podTemplateChecksum: 'x' }).spec?.template.spec;
  const kine = pod?.containers.find((container) => container.name === 'kine');
  assert.equal(kine?.image, `docker.io/rancher/kine:${KINE_VERSION}`);
  assert.deepEqual(kine?.args, [
    '--listen-address=127.0.0.1:2379',
    '--server-cert-file=/etc/kine/server.crt',
    '--server-key-file=/etc/kine/server.key',
    '--trusted-ca-file=/etc/kine/tenant-ca.crt',
    '--ca-file=/etc/kine/datastore-ca.crt',
    '--metrics-bind-address=0',
    '--datastore-poll-interval=2s',
  ]);
  assert.deepEqual(kine?.envFrom, [{ secretRef: { name: 'acme-datastore-config' } }]);
  assert.deepEqual(kine?.env, [
    {
      name: 'KINE_ENDPOINT',
      value: 'postgres://$(DB_USER):$(DB_PASSWORD)@$(DB_CONNECTION_STRING)/$(DB_SCHEMA)?sslmode=verify-full',
    },
  ]);
  // kine's volume holds certificates and its key, never the tenant CA's key.
  const volume = pod?.volumes?.find((candidate) => candidate.name === 'kine-certificates');
  const files = volume?.projected?.sources?.flatMap((source) => source.secret?.items?.map((item) => item.path) ?? []);
  assert.deepEqual(files, ['tenant-ca.crt', 'datastore-ca.crt', 'server.crt', 'server.key']);
  const flags = apiServerFlags(context);
  assert.equal(flags['etcd-servers'], 'https://127.0.0.1:2379');
  assert.equal(flags['etcd-cafile'], '/etc/kubernetes/pki/ca.crt');
  assert.equal(flags['etcd-certfile'], '/etc/kubernetes/pki/etcd/server.crt');
  assert.equal(flags['etcd-prefix'], '/acme_db');
});

test('a MySQL tenant gives kine a mysql:// endpoint over tcp()', () => {
  const context = sampleContext({ datastore: { driver: 'MySQL', endpoints: ['db:3306'], schema: 'acme_db' } });
  const pod = desiredDeployment({ context, podTemplateChecksum: 'x' }).spec?.template.spec;
  const kine = pod?.containers.find((container) => container.name === 'kine');
  assert.deepEqual(kine?.env, [
    { name: 'KINE_ENDPOINT', value: 'mysql://$(DB_USER):$(DB_PASSWORD)@tcp($(DB_CONNECTION_STRING))/$(DB_SCHEMA)' },
  ]);
});
