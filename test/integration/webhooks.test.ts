/**
 * The admission webhooks on a real kube-apiserver: `kamaji manager --webhook-address` fills the caBundle of
 * configurations that call it by URL (the harness has no Service proxy), each rule refuses its bad object with a
 * message naming the field, good objects pass, defaulting happens; with the manager down and failurePolicy
 * Ignore a bad object is stored and the reconciler reports it once the manager is back; a deleted certificate
 * Secret is recreated and the caBundle follows.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Condition,
  type V1MutatingWebhookConfiguration,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import { GROUP, VERSION } from '../../src/api/v1alpha1/group-version.ts';
import type { TenantControlPlane, TenantControlPlaneSpec } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { dataStoreObjects, KAMAJI_NAMESPACE } from '../../src/cluster/kamaji-install.ts';
import { loadClusterAccess } from '../../src/controller/cluster-access.ts';
import { builtinResources, KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { microTime } from '../../src/controller/leader-election.ts';
import { LEASE_NAME } from '../../src/manager/manager.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, type SupervisedProcess, Supervisor } from '../../src/process/supervisor.ts';
import { ensureComponents } from '../../src/toolchain/ensure.ts';
import { waitFor } from '../../src/util/wait.ts';
import type { AdmissionResponse, AdmissionReview } from '../../src/webhook/admission.ts';
import {
  ensureCertificateSecret,
  issueCertificates,
  type WebhookCertificates,
} from '../../src/webhook/certificates.ts';
import { WEBHOOK_PATHS } from '../../src/webhook/webhook.ts';
import { useControlPlane } from '../support/control-plane.ts';
import {
  createEtcdDataStore,
  installCustomResourceDefinitions,
  NAMESPACE,
  tcps,
  tenantManifest,
} from '../support/kamaji-api.ts';
import { logOf, startManagerProcess } from '../support/manager-process.ts';

const VALIDATING = 'kamaji-validating-webhook-configuration';
const MUTATING = 'kamaji-mutating-webhook-configuration';
const SECRET = 'kamaji-webhook-certificate';
const dataStores = { group: GROUP, version: VERSION, plural: 'datastores' };

/** The chart's configurations (charts/kamaji/templates/webhooks.yaml), calling the manager by URL. */
function configurations(url: string): [V1ValidatingWebhookConfiguration, V1MutatingWebhookConfiguration] {
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    matchPolicy: 'Equivalent',
    failurePolicy: 'Ignore',
    timeoutSeconds: 5,
  };
  const rule = (resources: string, operations: string[], scope: string) => [
    { apiGroups: [GROUP], apiVersions: [VERSION], operations, resources: [resources], scope },
  ];
  return [
    {
      metadata: { name: VALIDATING },
      webhooks: [
        {
          ...common,
          name: 'validate.tenantcontrolplanes.kamaji.clastix.io',
          clientConfig: { url: `${url}${WEBHOOK_PATHS.validateTenantControlPlane}` },
          rules: rule('tenantcontrolplanes', ['CREATE', 'UPDATE'], 'Namespaced'),
        },
        {
          ...common,
          name: 'validate.datastores.kamaji.clastix.io',
          clientConfig: { url: `${url}${WEBHOOK_PATHS.validateDataStore}` },
          rules: rule('datastores', ['CREATE', 'UPDATE', 'DELETE'], 'Cluster'),
        },
      ],
    },
    {
      metadata: { name: MUTATING },
      webhooks: [
        {
          ...common,
          name: 'mutate.tenantcontrolplanes.kamaji.clastix.io',
          reinvocationPolicy: 'Never',
          clientConfig: { url: `${url}${WEBHOOK_PATHS.mutateTenantControlPlane}` },
          rules: rule('tenantcontrolplanes', ['CREATE'], 'Namespaced'),
        },
      ],
    },
  ];
}

/** POSTs an AdmissionReview to the webhook, trusting `ca`; resolves to its response. */
function postReview(url: string, ca: string, body: string): Promise<AdmissionResponse | undefined> {
  return new Promise((resolve, reject) => {
    const call = request(url, { method: 'POST', ca, headers: { 'Content-Type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview).response),
      );
    });
    call.on('error', reject);
    call.end(body);
  });
}

/** An AdmissionReview of a TenantControlPlane CREATE, as the API server sends it. */
function tenantReview(tcp: TenantControlPlane): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: GROUP, version: VERSION, kind: 'TenantControlPlane' },
      operation: 'CREATE',
      name: tcp.metadata.name,
      namespace: tcp.metadata.namespace,
      object: tcp,
    },
  });
}

const condition = (tcp: TenantControlPlane, type: string): V1Condition | undefined =>
  (tcp.status?.conditions as V1Condition[] | undefined)?.find((entry) => entry.type === type);

describe('admission webhooks served by the manager', () => {
  const harness = useControlPlane();
  const supervisor = new Supervisor();
  let dir: string;
  let config: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let admission: AdmissionregistrationV1Api;
  let webhookPort: number;
  let probePort: number;
  let manager: SupervisedProcess | undefined;
  let kubectl: string;
  /** Every refusal seen, by the field it named. */
  const refusals: string[] = [];

  const startManager = async () => {
    manager = await startManagerProcess(supervisor, {
      name: 'manager',
      dir,
      kubeconfigYaml: harness().kubeconfigYaml,
      extraArgs: [
        `--probe-address=127.0.0.1:${probePort}`,
        `--webhook-address=127.0.0.1:${webhookPort}`,
        `--webhook-service=${KAMAJI_NAMESPACE}/kamaji-webhook-service`,
        `--webhook-secret=${KAMAJI_NAMESPACE}/${SECRET}`,
        '--webhook-extra-sans=127.0.0.1',
        `--validating-webhook-configuration=${VALIDATING}`,
        `--mutating-webhook-configuration=${MUTATING}`,
      ],
    });
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${probePort}/readyz`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
      description: 'the manager to be ready (webhook serving)',
    }).catch(async (error: Error) => assert.fail(`${error.message}\n${manager && (await logOf(manager))}`));
  };

  const caBundles = async () => {
    const validating = await admission.readValidatingWebhookConfiguration({ name: VALIDATING });
    const mutating = await admission.readMutatingWebhookConfiguration({ name: MUTATING });
    return [...(validating.webhooks ?? []), ...(mutating.webhooks ?? [])].map(
      (webhook) => webhook.clientConfig.caBundle,
    );
  };
  const secretCa = async () =>
    (await core.readNamespacedSecret({ namespace: KAMAJI_NAMESPACE, name: SECRET })).data?.['ca.crt'];

  /** The refusal's message; records the field it must name. */
  async function refused(field: string, attempt: Promise<unknown>): Promise<string> {
    const error = (await attempt.then(
      () => assert.fail(`expected a refusal naming ${field}`),
      (caught: unknown) => caught,
    )) as { code?: number; body?: string };
    const message = JSON.parse(error.body ?? '{}').message ?? '';
    assert.match(message, /admission webhook "validate\.[a-z.]+" denied the request: /);
    assert.ok(message.includes(field), `the message names ${field}: ${message}`);
    refusals.push(field);
    return message;
  }

  const createTenant = (name: string, spec: Partial<TenantControlPlaneSpec> = {}, dryRun = true) =>
    custom.createNamespacedCustomObject({
      ...tcps,
      body: tenantManifest(name, NAMESPACE, 16443, spec),
      ...(dryRun ? { dryRun: 'All' } : {}),
    }) as Promise<TenantControlPlane>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kamaji-webhooks-'));
    config = new KubeConfig();
    config.loadFromString(harness().kubeconfigYaml);
    core = config.makeApiClient(CoreV1Api);
    custom = config.makeApiClient(CustomObjectsApi);
    admission = config.makeApiClient(AdmissionregistrationV1Api);
    kubectl = (await ensureComponents(['kubectl'])).get('kubectl')?.path ?? 'kubectl';
    await installCustomResourceDefinitions(config);
    await createEtcdDataStore(config, harness(), 'default');
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    [webhookPort, probePort] = [await freePort(), await freePort()];
    const [validating, mutating] = configurations(`https://127.0.0.1:${webhookPort}`);
    await admission.createValidatingWebhookConfiguration({ body: validating });
    await admission.createMutatingWebhookConfiguration({ body: mutating });
    await startManager();
  });

  after(async () => {
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    await rm(dir, { recursive: true, force: true });
  });

  test('the manager creates its certificate Secret and writes the CA into every webhook', async () => {
    const ca = await secretCa();
    assert.ok(ca, 'the Secret holds ca.crt');
    const secret = await core.readNamespacedSecret({ namespace: KAMAJI_NAMESPACE, name: SECRET });
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    await waitFor(async () => ((await caBundles()).every((bundle) => bundle === ca) ? true : undefined), {
      timeoutMs: 10_000,
      description: 'caBundle of all three webhooks to be the CA',
    });
  });

  test('each TenantControlPlane rule refuses its bad object, naming the field', async () => {
    await refused(
      'spec.kubernetes.version',
      createTenant('future', { kubernetes: { version: 'v1.40.0', kubelet: {} } }),
    );
    await refused('spec.dataStore', createTenant('lost', { dataStore: 'nowhere' }));
    await refused('spec.dataStoreUsername', createTenant('rooted', { dataStoreUsername: 'root' }));
    await refused(
      'spec.controlPlane.deployment.additionalVolumeMounts.apiServer[1].mountPath',
      createTenant('mounts', {
        controlPlane: {
          service: { serviceType: 'ClusterIP' },
          deployment: {
            additionalVolumeMounts: {
              apiServer: [
                { name: 'one', mountPath: '/etc/extra' },
                { name: 'two', mountPath: '/etc/extra' },
              ],
            },
          },
        },
      }),
    );
    await refused(
      'spec.controlPlane.deployment.additionalContainers[0].name',
      createTenant('impostor', {
        controlPlane: {
          service: { serviceType: 'ClusterIP' },
          deployment: { additionalContainers: [{ name: 'kube-apiserver', image: 'busybox' }] },
        },
      }),
    );

    // Identity ownership: a schema another tenant on the same DataStore holds.
    await createTenant('holder', { dataStoreSchema: 'shared_schema' }, false);
    // Claimed means the manager's cache, which the webhook reads, holds it.
    await waitFor(
      async () => {
        const holder = (await custom.getNamespacedCustomObject({ ...tcps, name: 'holder' })) as TenantControlPlane;
        return holder.metadata.finalizers?.length ? true : undefined;
      },
      { timeoutMs: 15_000, description: 'the holder to be claimed' },
    );
    await refused('spec.dataStoreSchema', createTenant('thief', { dataStoreSchema: 'shared_schema' }));

    // Upgrade paths, judged against the old object.
    const patchVersion = (version: string) =>
      custom.patchNamespacedCustomObject({
        ...tcps,
        name: 'holder',
        body: [{ op: 'replace', path: '/spec/kubernetes/version', value: version }],
      });
    await refused('spec.kubernetes.version', patchVersion('v1.34.0'));
    await refused('spec.kubernetes.version', patchVersion('v1.37.0'));
    await patchVersion('v1.36.0');

    // kubectl apply reports the same refusal.
    const manifest = join(dir, 'bad.json');
    const bad = tenantManifest('applied', NAMESPACE, 16443, { dataStore: 'nowhere' });
    await writeFile(manifest, JSON.stringify(bad));
    const kubeconfig = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, harness().kubeconfigYaml, { mode: 0o600 });
    const applied = await promisify(execFile)(kubectl, ['--kubeconfig', kubeconfig, 'apply', '-f', manifest]).then(
      () => assert.fail('kubectl apply of a TCP on a missing DataStore succeeded'),
      (error: { stderr: string }) => error.stderr,
    );
    // A 422 Invalid with causes: kubectl prints it as it prints the schema's own refusals.
    assert.match(applied, /"applied" is invalid: spec\.dataStore: DataStore nowhere does not exist/);
    refusals.push('spec.dataStore (kubectl)');
  });

  test('each DataStore rule refuses, naming the field; a DataStore in use is not deleted', async () => {
    const { secret, dataStore } = dataStoreObjects(harness().etcd, 'orphan');
    const broken: DataStore = structuredClone(dataStore);
    const reference = broken.spec.tlsConfig?.clientCertificate?.certificate?.secretReference;
    assert.ok(reference);
    reference.name = 'no-such-secret';
    await core.createNamespacedSecret({ namespace: KAMAJI_NAMESPACE, body: secret });
    await refused(
      'spec.tlsConfig.clientCertificate.certificate',
      custom.createClusterCustomObject({ ...dataStores, body: broken }),
    );
    await refused('metadata.name', custom.deleteClusterCustomObject({ ...dataStores, name: 'default' }));
    // The same DataStore with its references right is accepted, and deleted while unused.
    await custom.createClusterCustomObject({ ...dataStores, body: dataStore });
    await custom.deleteClusterCustomObject({ ...dataStores, name: 'orphan' });
  });

  test('good objects pass and an empty spec.dataStore is defaulted at admission', async () => {
    const created = await createTenant('plain', { dataStore: undefined }, true);
    assert.equal(created.spec.dataStore, 'default', 'the mutating webhook set spec.dataStore');
    assert.equal(refusals.length, 11, `refusals: ${refusals.join(', ')}`);
  });

  test('a caBundle reset (as by an upgrade of the configuration) is written again', async () => {
    const ca = await secretCa();
    await admission.patchValidatingWebhookConfiguration({
      name: VALIDATING,
      body: [{ op: 'remove', path: '/webhooks/1/clientConfig/caBundle' }],
    });
    await waitFor(async () => ((await caBundles()).every((bundle) => bundle === ca) ? true : undefined), {
      timeoutMs: 10_000,
      description: 'caBundle to be written again',
    });
  });

  test('replicas racing to create the Secret all end with the one that won', async () => {
    const client = new KubeClient(loadClusterAccess(harness().kubeconfigPath));
    try {
      const location = { namespace: KAMAJI_NAMESPACE, name: 'raced-certificate' };
      const names = ['kamaji-webhook-service.kamaji-system.svc', '127.0.0.1'];
      const results = await Promise.all(
        [1, 2, 3].map(() => ensureCertificateSecret(client, location, names, { keyAlgorithm: 'ECDSA-P256' })),
      );
      assert.equal(results.filter((result) => result.issued).length, 1, 'one replica issued');
      const stored = (await core.readNamespacedSecret(location)).data?.['tls.crt'];
      for (const { certificates } of results) {
        assert.equal(Buffer.from(certificates.serving.certificatePem).toString('base64'), stored);
      }
    } finally {
      client.close();
    }
  });

  test('webhook latency under 50 concurrent admissions', async (t) => {
    const ca = Buffer.from((await secretCa()) ?? '', 'base64').toString('utf8');
    const review = tenantReview(tenantManifest('fast', NAMESPACE, 16443));
    const url = `https://127.0.0.1:${webhookPort}${WEBHOOK_PATHS.validateTenantControlPlane}`;
    const timed = async (call: () => Promise<void>) => {
      const started = performance.now();
      await call();
      return performance.now() - started;
    };
    const allowed = async () => assert.equal((await postReview(url, ca, review))?.allowed, true);
    // Each batch twice, the first to open the connections (the API server keeps its own to the webhook).
    const batch = (call: (index: number) => Promise<void>) =>
      Promise.all(Array.from({ length: 50 }, (_, index) => timed(() => call(index))));
    await batch(allowed);
    const direct = await batch(allowed);
    const dryRunCreate = async (index: number) => void (await createTenant(`fast-${index}`));
    await batch(dryRunCreate);
    const viaApi = await batch(dryRunCreate);
    const figure = (samples: number[]) => {
      const sorted = samples.toSorted((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]?.toFixed(1);
      return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`;
    };
    t.diagnostic(`webhook alone (50 concurrent reviews, connections open): ${figure(direct)}`);
    t.diagnostic(`dry-run create through the API server (50 concurrent): ${figure(viaApi)}`);
  });

  test('a deleted certificate Secret is recreated with a new CA, and caBundle follows', async () => {
    const before = await secretCa();
    await core.deleteNamespacedSecret({ namespace: KAMAJI_NAMESPACE, name: SECRET });
    const after = await waitFor(
      async () => {
        const ca = await secretCa().catch(() => undefined);
        return ca && ca !== before ? ca : undefined;
      },
      { timeoutMs: 15_000, description: 'the Secret to be recreated' },
    );
    await waitFor(async () => ((await caBundles()).every((bundle) => bundle === after) ? true : undefined), {
      timeoutMs: 15_000,
      description: 'caBundle to be the new CA',
    });
    // The API server trusts the new certificate: a refusal still comes from the webhook, not failurePolicy.
    await waitFor(
      () =>
        createTenant('again', { dataStore: 'nowhere' }).then(
          () => undefined,
          () => true,
        ),
      { timeoutMs: 15_000, description: 'the webhook to refuse with its new certificate' },
    );
  });

  test('a replica that is not the leader serves too, here with a certificate from a directory (cert-manager)', async () => {
    // Another replica holds the Lease for an hour: this one never leads.
    const now = microTime(Date.now());
    const admin = new KubeClient(loadClusterAccess(harness().kubeconfigPath));
    await admin
      .request('POST', resourcePath(builtinResources.lease, { namespace: KAMAJI_NAMESPACE }), {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: LEASE_NAME },
          spec: { holderIdentity: 'elsewhere', leaseDurationSeconds: 3600, acquireTime: now, renewTime: now },
        },
      })
      .finally(() => admin.close());
    const certDir = join(dir, 'mounted');
    await mkdir(certDir);
    const mount = async (certificates: WebhookCertificates) => {
      await writeFile(join(certDir, 'tls.key'), certificates.serving.privateKeyPem);
      await writeFile(join(certDir, 'tls.crt'), certificates.serving.certificatePem);
    };
    const first = await issueCertificates(undefined, 'ca', ['127.0.0.1'], { keyAlgorithm: 'ECDSA-P256' });
    await mount(first);
    const [port, probe] = [await freePort(), await freePort()];
    const follower = await startManagerProcess(supervisor, {
      name: 'follower',
      dir,
      kubeconfigYaml: harness().kubeconfigYaml,
      leaderElect: true,
      extraArgs: [
        `--probe-address=127.0.0.1:${probe}`,
        `--webhook-address=127.0.0.1:${port}`,
        `--webhook-cert-dir=${certDir}`,
      ],
    });
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${probe}/readyz`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
      description: 'the follower to be ready',
    }).catch(async (error: Error) => assert.fail(`${error.message}\n${await logOf(follower)}`));
    const url = `https://127.0.0.1:${port}${WEBHOOK_PATHS.validateTenantControlPlane}`;
    const bad = tenantReview(tenantManifest('elsewhere', NAMESPACE, 16443, { dataStore: 'nowhere' }));
    const answer = await postReview(url, first.caBundlePem, bad);
    assert.equal(answer?.allowed, false);
    assert.match(answer?.status?.message ?? '', /^spec\.dataStore: DataStore nowhere does not exist/);
    assert.match(await logOf(follower, 200), /webhook: serving the certificate from/);
    assert.doesNotMatch(await logOf(follower, 200), /became leader/);

    // A certificate from another CA is mounted: it is served without a restart.
    const second = await issueCertificates(undefined, 'ca', ['127.0.0.1'], { keyAlgorithm: 'ECDSA-P256' });
    await mount(second);
    await waitFor(() => postReview(url, second.caBundlePem, bad).catch(() => undefined), {
      timeoutMs: 5_000,
      intervalMs: 500,
      description: 'the new certificate to be served',
    });
    await supervisor.stop(follower);
  });

  test('with the manager down and failurePolicy Ignore, a bad tenant is stored; the reconciler reports it', async () => {
    assert.ok(manager);
    await supervisor.stop(manager);
    const bad = {
      controlPlane: {
        service: { serviceType: 'ClusterIP' as const },
        deployment: { additionalContainers: [{ name: 'kube-scheduler', image: 'busybox' }] },
      },
    };
    await createTenant('sneaked', bad, false);
    await startManager();
    const tcp = await waitFor(
      async () => {
        const current = (await custom.getNamespacedCustomObject({ ...tcps, name: 'sneaked' })) as TenantControlPlane;
        return condition(current, 'Valid')?.status === 'False' ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the reconciler to report the bad tenant' },
    );
    assert.match(
      condition(tcp, 'Valid')?.message ?? '',
      /spec\.controlPlane\.deployment\.additionalContainers\[0\]\.name: "kube-scheduler" is a container Kamaji manages/,
    );
    // The operator's own writes to it (claim, finalizer) went through: the webhook refuses only what a change adds.
    assert.ok(tcp.metadata.finalizers?.includes('finalizer.kamaji.clastix.io'));
  });
});
