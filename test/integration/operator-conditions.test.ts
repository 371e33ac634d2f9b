import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { AdmissionregistrationV1Api, AppsV1Api, type V1Condition } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../src/api/v1alpha1/group-version.ts';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { ANNOTATION_ROTATE } from '../../src/tenant/names.ts';
import { waitFor } from '../../src/util/wait.ts';
import { createDataStore } from '../support/kamaji-api.ts';
import { NAMESPACE, tcps, useOperator } from '../support/operator.ts';
import { type StandaloneEtcd, standaloneEtcd } from '../support/standalone-etcd.ts';

const condition = (tcp: TenantControlPlane, type: string): V1Condition | undefined =>
  (tcp.status?.conditions as V1Condition[] | undefined)?.find((entry) => entry.type === type);

describe('the operator says what is wrong, recovers when it is fixed, and renews on request', () => {
  const operator = useOperator();
  const supervisor = new Supervisor();
  const standalones: StandaloneEtcd[] = [];

  /** Asks for new certificates and waits until the operator has made them (it clears the annotation). */
  async function rotate(name: string): Promise<void> {
    await operator().custom.patchNamespacedCustomObject({
      ...tcps,
      name,
      body: [{ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_ROTATE]: '' } }],
    });
    await operator().waitTenant(
      name,
      'to drop the rotate annotation',
      (tcp) => tcp.metadata.annotations?.[ANNOTATION_ROTATE] === undefined,
    );
  }

  after(async () => {
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    for (const standalone of standalones) await standalone.remove();
  });

  test('an unsupported version is reported in a Valid condition naming the field, and nothing is created', async () => {
    await operator().createTenant('future', await freePort(), {
      kubernetes: { version: 'v1.40.0', kubelet: { cgroupfs: 'cgroupfs' } },
    });
    const tcp = await operator().waitTenant(
      'future',
      'to be reported invalid',
      (candidate) => condition(candidate, 'Valid')?.status === 'False',
    );
    assert.match(condition(tcp, 'Valid')?.message ?? '', /spec\.kubernetes\.version/);
    assert.equal((await operator().secretsOf('future')).size, 0);
  });

  test('a DataStore whose Secret lacks a key is reported with the field, and one that is down, until it comes up', async () => {
    const { core } = operator();
    const late = await standaloneEtcd(supervisor, 'late');
    standalones.push(late);
    const { secret, dataStore } = structuredClone(late.objects);
    const caKey = secret.data?.['ca.key'] ?? '';
    delete secret.data?.['ca.key'];
    await createDataStore(operator().config, secret, dataStore);
    await operator().createTenant('patient', await freePort(), { dataStore: 'late' });
    const misconfigured = await operator().waitTenant(
      'patient',
      'to report its misconfigured DataStore',
      (tcp) => condition(tcp, 'DataStoreReady')?.reason === 'DataStoreMisconfigured',
    );
    assert.match(
      condition(misconfigured, 'DataStoreReady')?.message ?? '',
      /spec\.tlsConfig\.certificateAuthority\.privateKey: Secret kamaji-system\/late-datastore-certificates has no key "ca\.key"/,
    );

    await core.patchNamespacedSecret({
      namespace: 'kamaji-system',
      name: secret.metadata?.name ?? '',
      body: [{ op: 'add', path: '/data/ca.key', value: caKey }],
    });
    const unreachable = await operator().waitTenant(
      'patient',
      'to report its DataStore unreachable',
      (tcp) => condition(tcp, 'DataStoreReady')?.reason === 'DataStoreUnreachable',
    );
    assert.match(
      condition(unreachable, 'DataStoreReady')?.message ?? '',
      new RegExp(late.endpoint.replaceAll('.', '\\.')),
    );

    await late.start();
    const provisioned = await waitFor(
      async () => {
        const tcp = await operator().readTenant('patient');
        return condition(tcp, 'DataStoreReady')?.status === 'True' && tcp.status?.storage?.setup?.user
          ? tcp
          : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 250, description: 'the tenant to go on once its DataStore is up' },
    );
    assert.equal(provisioned.status?.storage?.dataStoreName, 'late');
  });

  test('a DataStore in use cannot be deleted; it goes once its last tenant is gone', async () => {
    const { custom } = operator();
    const dataStores = { group: GROUP, version: VERSION, plural: 'datastores' };
    await custom.deleteClusterCustomObject({ ...dataStores, name: 'late' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const held = (await custom.getClusterCustomObject({ ...dataStores, name: 'late' })) as {
      metadata: { deletionTimestamp?: string; finalizers?: string[] };
    };
    assert.ok(held.metadata.deletionTimestamp, 'deletion requested');
    assert.deepEqual(held.metadata.finalizers, ['finalizer.kamaji.clastix.io/datastore']);
    await custom.deleteNamespacedCustomObject({ ...tcps, name: 'patient' });
    await waitFor(
      async () => {
        try {
          await custom.getClusterCustomObject({ ...dataStores, name: 'late' });
          return undefined;
        } catch {
          return true;
        }
      },
      { timeoutMs: 30_000, description: 'the DataStore to go once unused' },
    );
  });

  test('the rotate annotation renews leaf certificates, keeps the CA, and is cleared', async () => {
    await operator().createTenant('rotor', await freePort());
    await operator().waitProvisioned('rotor');
    const before = await operator().secretsOf('rotor');
    await rotate('rotor');
    const after = await operator().secretsOf('rotor');
    assert.equal(after.get('rotor-ca')?.['ca.crt'], before.get('rotor-ca')?.['ca.crt'], 'the CA stays');
    const serving = (secrets: typeof before) => secrets.get('rotor-api-server-certificate')?.['apiserver.crt'] ?? '';
    assert.notEqual(serving(after), serving(before), 'the serving certificate is new');
    assert.ok(
      new X509Certificate(serving(after)).checkIssued(new X509Certificate(after.get('rotor-ca')?.['ca.crt'] ?? '')),
    );
  });

  test('a paused managed Secret is left alone while the others rotate', async () => {
    const before = await operator().secretsOf('rotor');
    await operator().core.patchNamespacedSecret({
      namespace: NAMESPACE,
      name: 'rotor-api-server-certificate',
      body: [{ op: 'add', path: '/metadata/annotations/kamaji.clastix.io~1paused', value: '' }],
    });
    await rotate('rotor');
    const after = await operator().secretsOf('rotor');
    const key = (secrets: typeof before, name: string, file: string) => secrets.get(name)?.[file];
    assert.equal(
      key(after, 'rotor-api-server-certificate', 'apiserver.crt'),
      key(before, 'rotor-api-server-certificate', 'apiserver.crt'),
      'paused: untouched',
    );
    assert.notEqual(
      key(after, 'rotor-api-server-kubelet-client-certificate', 'apiserver-kubelet-client.crt'),
      key(before, 'rotor-api-server-kubelet-client-certificate', 'apiserver-kubelet-client.crt'),
      'not paused: rotated',
    );
    await operator().core.patchNamespacedSecret({
      namespace: NAMESPACE,
      name: 'rotor-api-server-certificate',
      body: [{ op: 'remove', path: '/metadata/annotations/kamaji.clastix.io~1paused' }],
    });
  });

  test('a managed Secret that is deleted comes back, issued by the same CA', async () => {
    const ca = (await operator().secretsOf('rotor')).get('rotor-ca')?.['ca.crt'] ?? '';
    await operator().core.deleteNamespacedSecret({ namespace: NAMESPACE, name: 'rotor-api-server-certificate' });
    const restored = await waitFor(
      async () => (await operator().secretsOf('rotor')).get('rotor-api-server-certificate')?.['apiserver.crt'],
      { timeoutMs: 20_000, intervalMs: 200, description: 'the deleted Secret to be recreated' },
    );
    assert.ok(new X509Certificate(restored).checkIssued(new X509Certificate(ca)));
  });

  test('a failing apply (an admission policy refusing the Deployment) reaches the condition, Ready and an Event', async () => {
    const { config } = operator();
    const admission = config.makeApiClient(AdmissionregistrationV1Api);
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: 'no-doomed-deployments' },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ['apps'],
                apiVersions: ['v1'],
                operations: ['CREATE', 'UPDATE'],
                resources: ['deployments'],
              },
            ],
          },
          validations: [
            { expression: "object.metadata.name != 'doomed'", message: 'doomed Deployments are forbidden here' },
          ],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: 'no-doomed-deployments' },
        spec: { policyName: 'no-doomed-deployments', validationActions: ['Deny'] },
      },
    });
    try {
      // The API server loads the policy a moment later: wait until a dry-run of such a Deployment is denied.
      const apps = config.makeApiClient(AppsV1Api);
      await waitFor(
        () =>
          apps
            .createNamespacedDeployment({
              namespace: NAMESPACE,
              dryRun: 'All',
              body: {
                metadata: { name: 'doomed' },
                spec: {
                  selector: { matchLabels: { a: 'b' } },
                  template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'c' }] } },
                },
              },
            })
            .then(
              () => undefined,
              (error: Error) => (/forbidden here/.test(String(error)) ? true : undefined),
            ),
        { timeoutMs: 20_000, intervalMs: 250, description: 'the admission policy to take effect' },
      );
      await operator().createTenant('doomed', await freePort());
      const failed = await operator().waitTenant(
        'doomed',
        'to report the refused Deployment',
        (tcp) => condition(tcp, 'ControlPlaneAvailable')?.reason === 'ReconcileError',
      );
      assert.match(
        condition(failed, 'ControlPlaneAvailable')?.message ?? '',
        /deployment failed: .*doomed Deployments are forbidden here/,
      );
      assert.equal(condition(failed, 'Ready')?.status, 'False');
      assert.equal(condition(failed, 'Ready')?.reason, 'ReconcileError');
      assert.equal(condition(failed, 'CertificatesReady')?.status, 'True', 'the phases before it still report');
      const { items } = await operator().core.listNamespacedEvent({
        namespace: NAMESPACE,
        fieldSelector: 'involvedObject.name=doomed',
      });
      assert.ok(items.some((event) => event.reason === 'ReconcileError' && event.type === 'Warning'));
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: 'no-doomed-deployments' });
      await admission.deleteValidatingAdmissionPolicy({ name: 'no-doomed-deployments' });
    }
    await operator().waitTenant('doomed', 'to recover once the policy is gone', (tcp) =>
      Boolean(tcp.status?.kubernetesResources?.deployment?.name),
    );
    await operator().custom.deleteNamespacedCustomObject({ ...tcps, name: 'doomed' });
  });

  test('deletion removes only the objects this TCP controls, and works on a paused TCP', async () => {
    await operator().createTenant('leaving', await freePort());
    await operator().waitProvisioned('leaving');
    // Someone's Secret that carries the tenant's label but is not controlled by it.
    await operator().core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'leaving-notes', labels: { 'kamaji.clastix.io/name': 'leaving' } },
        stringData: { a: 'b' },
      },
    });
    await operator().custom.patchNamespacedCustomObject({
      ...tcps,
      name: 'leaving',
      body: [{ op: 'add', path: '/metadata/annotations', value: { 'kamaji.clastix.io/paused': '' } }],
    });
    await operator().deleteTenant('leaving');
    const left = await operator().secretsOf('leaving');
    assert.deepEqual([...left.keys()], ['leaving-notes'], 'only the Secret it did not own is left');
    await operator().core.deleteNamespacedSecret({ namespace: NAMESPACE, name: 'leaving-notes' });
  });
});
