import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import type {
  DeploymentSpec,
  TenantControlPlane,
  TenantControlPlaneSpec,
} from '../api/v1alpha1/tenant-control-plane.ts';
import { newOperatorSeed } from '../datastore/nats/accounts.ts';
import type { AdmissionRequest, AdmissionResponse, Operation } from './admission.ts';
import {
  defaultTenantControlPlane,
  type ReviewContext,
  reviewDataStore,
  reviewTenantControlPlane,
  tenantControlPlaneProblems,
} from './review.ts';

function tenant(name: string, spec: Partial<TenantControlPlaneSpec> = {}, installed?: string): TenantControlPlane {
  return {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    metadata: { name, namespace: 'tenants' },
    spec: {
      dataStore: 'default',
      controlPlane: { service: { serviceType: 'ClusterIP' } },
      kubernetes: { version: 'v1.35.4', kubelet: { cgroupfs: 'systemd' } },
      ...spec,
    },
    ...(installed ? { status: { kubernetesResources: { version: { version: installed } } } } : {}),
  } as TenantControlPlane;
}

const withDeployment = (deployment: DeploymentSpec): Partial<TenantControlPlaneSpec> => ({
  controlPlane: { service: { serviceType: 'ClusterIP' }, deployment },
});

const secretRef = (keyPath: string) => ({
  secretReference: { name: 'etcd-certs', namespace: 'kamaji-system', keyPath },
});

function dataStore(name: string, spec: Partial<DataStore['spec']> = {}): DataStore {
  return {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'DataStore',
    metadata: { name },
    spec: {
      driver: 'etcd',
      endpoints: ['etcd-0.etcd.kamaji-system.svc:2379'],
      tlsConfig: {
        certificateAuthority: { certificate: secretRef('ca.crt'), privateKey: secretRef('ca.key') },
        clientCertificate: { certificate: secretRef('tls.crt'), privateKey: secretRef('tls.key') },
      },
      ...spec,
    },
  } as DataStore;
}

/** `null` for a manager started without --datastore. */
function context(tenants: TenantControlPlane[] = [], defaultDataStore: string | null = 'default'): ReviewContext {
  const dataStores = new Map([['default', dataStore('default')]]);
  const secrets = new Map([
    ['kamaji-system/etcd-certs', { 'ca.crt': 'CA', 'ca.key': 'KEY', 'tls.crt': 'CRT', 'tls.key': 'KEY' }],
  ]);
  return {
    defaultDataStore: defaultDataStore ?? undefined,
    dataStore: (name) => dataStores.get(name),
    tenants: () => tenants,
    readSecret: async (namespace, name) => secrets.get(`${namespace}/${name}`),
  };
}

function request<T extends TenantControlPlane | DataStore>(
  operation: Operation,
  object: T | undefined,
  oldObject?: T,
): AdmissionRequest<T> {
  const kind = (object ?? oldObject)?.kind ?? '';
  return {
    uid: 'a1b2',
    kind: { group: 'kamaji.clastix.io', version: 'v1alpha1', kind },
    operation,
    name: (object ?? oldObject)?.metadata.name,
    object,
    oldObject,
  };
}

/** The refusal's message, asserting it is one with the 422 status controller-runtime gives invalid objects. */
function refusal(response: AdmissionResponse, code = 422): string {
  assert.equal(response.allowed, false, 'expected a refusal');
  assert.equal(response.uid, 'a1b2');
  assert.equal(response.status?.code, code);
  return response.status?.message ?? '';
}

describe('TenantControlPlane validation', () => {
  const refusals: [string, () => AdmissionResponse, RegExp][] = [
    [
      'a version above the supported range',
      () =>
        reviewTenantControlPlane(
          request('CREATE', tenant('a', { kubernetes: { version: 'v1.40.0', kubelet: {} } })),
          context(),
        ),
      /^spec\.kubernetes\.version: v1\.40\.0 is not supported: Kamaji runs v1\.33 to v1\.37$/,
    ],
    [
      'a downgrade at update, from the old object',
      () =>
        reviewTenantControlPlane(
          request(
            'UPDATE',
            tenant('a', { kubernetes: { version: 'v1.34.2', kubelet: {} } }),
            tenant('a', {}, 'v1.35.4'),
          ),
          context(),
        ),
      /^spec\.kubernetes\.version: cannot downgrade from v1\.35 to v1\.34$/,
    ],
    [
      'a skipped minor at update, from the old spec when nothing is installed yet',
      () =>
        reviewTenantControlPlane(
          request('UPDATE', tenant('a', { kubernetes: { version: 'v1.37.0', kubelet: {} } }), tenant('a')),
          context(),
        ),
      /^spec\.kubernetes\.version: upgrade one minor at a time: from v1\.35 the next is v1\.36$/,
    ],
    [
      'a dataStoreSchema another tenant on the same DataStore has',
      () =>
        reviewTenantControlPlane(
          request('CREATE', tenant('b', { dataStoreSchema: 'shared' })),
          context([tenant('a', { dataStoreSchema: 'shared' })]),
        ),
      /^spec\.dataStoreSchema: spec\.dataStoreSchema is already used on DataStore default by TenantControlPlane tenants\/a: choose another/,
    ],
    [
      'a dataStoreUsername another tenant recorded in its status',
      () => {
        const holder = tenant('a');
        holder.status = { storage: { dataStoreName: 'default', setup: { schema: 'x', user: 'alice' } } };
        return reviewTenantControlPlane(
          request('CREATE', tenant('b', { dataStoreUsername: 'alice' })),
          context([holder]),
        );
      },
      /^spec\.dataStoreUsername: spec\.dataStoreUsername is already used on DataStore default by TenantControlPlane tenants\/a/,
    ],
    [
      'a reserved dataStoreUsername',
      () => reviewTenantControlPlane(request('CREATE', tenant('a', { dataStoreUsername: 'root' })), context()),
      /^spec\.dataStoreUsername: "root" is reserved by the datastore: choose another name or leave it unset$/,
    ],
    [
      'a DataStore that does not exist',
      () => reviewTenantControlPlane(request('CREATE', tenant('a', { dataStore: 'nowhere' })), context()),
      /^spec\.dataStore: DataStore nowhere does not exist: create it or set spec\.dataStore$/,
    ],
    [
      'no DataStore and no default',
      () => reviewTenantControlPlane(request('CREATE', tenant('a', { dataStore: undefined })), context([], null)),
      /^spec\.dataStore: spec\.dataStore is not set and the manager has no default \(--datastore\): name a DataStore$/,
    ],
    [
      'a mount path used twice',
      () =>
        reviewTenantControlPlane(
          request(
            'CREATE',
            tenant(
              'a',
              withDeployment({
                additionalVolumeMounts: {
                  apiServer: [
                    { name: 'one', mountPath: '/etc/extra' },
                    { name: 'two', mountPath: '/etc/extra' },
                  ],
                },
              }),
            ),
          ),
          context(),
        ),
      /^spec\.controlPlane\.deployment\.additionalVolumeMounts\.apiServer\[1\]\.mountPath: "\/etc\/extra" repeats/,
    ],
    [
      'an additional container named like a managed one (kine)',
      () =>
        reviewTenantControlPlane(
          request(
            'CREATE',
            tenant('a', withDeployment({ additionalContainers: [{ name: 'kine', image: 'busybox' }] })),
          ),
          context(),
        ),
      /^spec\.controlPlane\.deployment\.additionalContainers\[0\]\.name: "kine" is a container Kamaji manages; choose another name$/,
    ],
  ];
  for (const [what, review, message] of refusals) {
    test(`refuses ${what}, naming the field`, () => assert.match(refusal(review()), message));
  }

  test('the refusal carries each problem as a cause with its field', () => {
    const response = reviewTenantControlPlane(
      request('CREATE', tenant('a', { dataStore: 'nowhere', dataStoreUsername: 'root' })),
      context(),
    );
    assert.deepEqual(
      response.status?.details?.causes?.map((cause) => cause.field),
      ['spec.dataStoreUsername', 'spec.dataStore'],
    );
    assert.equal(response.status?.reason, 'Invalid');
  });

  test('allows a good tenant, an upgrade by one minor, a patch downgrade, and its own identity at update', () => {
    const tenants = [tenant('a', { dataStoreSchema: 'mine', dataStoreUsername: 'mine' }, 'v1.35.4')];
    assert.equal(reviewTenantControlPlane(request('CREATE', tenant('b')), context(tenants)).allowed, true);
    for (const version of ['v1.36.0', 'v1.35.1']) {
      const next = tenant('a', {
        dataStoreSchema: 'mine',
        dataStoreUsername: 'mine',
        kubernetes: { version, kubelet: {} },
      });
      assert.equal(reviewTenantControlPlane(request('UPDATE', next, tenants[0]), context(tenants)).allowed, true);
    }
  });

  test('at update, refuses only what the change adds: an object stored while the webhook was down stays writable', () => {
    const stored = tenant('a', { dataStore: 'nowhere' });
    const claimed = tenant('a', { dataStore: 'nowhere', dataStoreSchema: 'x_1', dataStoreUsername: 'x_1' });
    assert.equal(reviewTenantControlPlane(request('UPDATE', claimed, stored), context()).allowed, true);
    const worse = tenant('a', { dataStore: 'nowhere', kubernetes: { version: 'v1.40.0', kubelet: {} } });
    assert.match(
      refusal(reviewTenantControlPlane(request('UPDATE', worse, stored), context())),
      /^spec\.kubernetes\.version/,
    );
  });

  test('a changed spec.dataStore (a migration) is checked as the DataStore the tenant moves to', () => {
    const on = (name: string, dataStore: string, schema: string) => {
      const tcp = tenant(name, { dataStore, dataStoreSchema: schema, dataStoreUsername: schema });
      tcp.status = { storage: { dataStoreName: 'default', setup: { schema, user: schema } } };
      return tcp;
    };
    const twoStores = (tenants: TenantControlPlane[]): ReviewContext => ({
      ...context(tenants),
      dataStore: (name) => (['default', 'other'].includes(name) ? dataStore(name) : undefined),
    });
    const stored = on('a', 'default', 'mine');
    const moved = (dataStoreName: string) => on('a', dataStoreName, 'mine');
    assert.equal(
      reviewTenantControlPlane(request('UPDATE', moved('other'), stored), twoStores([stored])).allowed,
      true,
    );
    assert.match(
      refusal(reviewTenantControlPlane(request('UPDATE', moved('nowhere'), stored), twoStores([stored]))),
      /^spec\.dataStore: DataStore nowhere does not exist: create it or set spec\.dataStore$/,
    );
    // Another tenant already on the target, or moving there, with the same schema.
    const holder = tenant('b', { dataStore: 'other', dataStoreSchema: 'mine' });
    const mover = on('c', 'other', 'mine');
    for (const other of [holder, mover]) {
      assert.match(
        refusal(reviewTenantControlPlane(request('UPDATE', moved('other'), stored), twoStores([stored, other]))),
        /^spec\.dataStoreSchema: spec\.dataStoreSchema is already used on DataStore other by TenantControlPlane tenants\/[bc]/,
      );
    }
  });

  test('a tenant being deleted is not checked (its finalizer must come off)', () => {
    const going = tenant('a', { dataStore: 'nowhere' });
    going.metadata.deletionTimestamp = new Date();
    assert.equal(reviewTenantControlPlane(request('UPDATE', going, tenant('a')), context()).allowed, true);
  });

  test('the reconciler finds the same problems in the same words', () => {
    const problems = tenantControlPlaneProblems(tenant('a', { dataStore: 'nowhere' }), undefined, context());
    assert.deepEqual(problems, [
      { field: 'spec.dataStore', message: 'DataStore nowhere does not exist: create it or set spec.dataStore' },
    ]);
  });
});

describe('TenantControlPlane defaulting', () => {
  const patchOf = (response: AdmissionResponse) =>
    response.patch === undefined ? undefined : JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));

  test('sets spec.dataStore to the manager default at create when it is empty', () => {
    const response = defaultTenantControlPlane(request('CREATE', tenant('a', { dataStore: undefined })), context());
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, 'JSONPatch');
    assert.deepEqual(patchOf(response), [{ op: 'add', path: '/spec/dataStore', value: 'default' }]);
  });

  test('leaves a named DataStore, an update, and a manager without default alone', () => {
    for (const response of [
      defaultTenantControlPlane(request('CREATE', tenant('a', { dataStore: 'other' })), context()),
      defaultTenantControlPlane(request('UPDATE', tenant('a', { dataStore: undefined }), tenant('a')), context()),
      defaultTenantControlPlane(request('CREATE', tenant('a', { dataStore: undefined })), context([], null)),
    ]) {
      assert.equal(response.allowed, true);
      assert.equal(patchOf(response), undefined);
    }
  });
});

describe('DataStore validation', () => {
  test('refuses an endpoint with a scheme, naming the field', async () => {
    const bad = dataStore('d', { endpoints: ['https://etcd:2379'] });
    assert.match(
      refusal(await reviewDataStore(request('CREATE', bad), context())),
      /^spec\.endpoints\[0\]: .* has a URL scheme/,
    );
  });

  test('refuses a TLS reference to a Secret that does not exist', async () => {
    const bad = dataStore('d', {
      tlsConfig: {
        certificateAuthority: { certificate: secretRef('ca.crt'), privateKey: secretRef('ca.key') },
        clientCertificate: {
          certificate: { secretReference: { name: 'gone', namespace: 'kamaji-system', keyPath: 'tls.crt' } },
          privateKey: secretRef('tls.key'),
        },
      },
    });
    assert.match(
      refusal(await reviewDataStore(request('CREATE', bad), context())),
      /^spec\.tlsConfig\.clientCertificate\.certificate: Secret kamaji-system\/gone does not exist$/,
    );
  });

  test('refuses a DataStore the operator cannot use; accepts the SQL and NATS DataStores it resolves', async () => {
    const bad = dataStore('d', { driver: 'NATS' });
    assert.match(
      refusal(await reviewDataStore(request('CREATE', bad), context())),
      /^spec\.basicAuth\.password: set it to the seed \(SO…\) of the operator the NATS server trusts/,
    );
    const nats = dataStore('d', {
      driver: 'NATS',
      basicAuth: {
        username: { content: Buffer.from('kamaji').toString('base64') },
        password: { content: Buffer.from(newOperatorSeed(randomBytes(32))).toString('base64') },
      },
    });
    assert.equal((await reviewDataStore(request('CREATE', nats), context())).allowed, true);
    const sql = dataStore('d', { driver: 'MySQL' });
    assert.equal((await reviewDataStore(request('CREATE', sql), context())).allowed, true);
  });

  test('refuses DELETE while a tenant stores data in it, naming them', async () => {
    const response = await reviewDataStore(request('DELETE', undefined, dataStore('default')), context([tenant('a')]));
    assert.match(
      refusal(response, 403),
      /^metadata\.name: DataStore default cannot be deleted while TenantControlPlanes store data in it: tenants\/a; delete them first$/,
    );
  });

  test('allows a good DataStore, an unused one deleted, and an unchanged problem at update', async () => {
    assert.equal((await reviewDataStore(request('CREATE', dataStore('d')), context())).allowed, true);
    assert.equal(
      (await reviewDataStore(request('DELETE', undefined, dataStore('d')), context([tenant('a')]))).allowed,
      true,
    );
    const broken = dataStore('d', { endpoints: ['etcd'] });
    const relabelled = dataStore('d', { endpoints: ['etcd'] });
    relabelled.metadata.finalizers = ['finalizer.kamaji.clastix.io/datastore'];
    assert.equal((await reviewDataStore(request('UPDATE', relabelled, broken), context())).allowed, true);
  });
});
