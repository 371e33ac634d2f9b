import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { deletePrefix, grantPrefixAccess, revokeAccess } from '../../src/datastore/etcd/access.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { waitFor } from '../../src/util/wait.ts';
import { useControlPlane } from '../support/control-plane.ts';

describe('control plane harness: real etcd + kube-apiserver', () => {
  const harness = useControlPlane();

  function kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    config.loadFromString(harness().kubeconfigYaml);
    return config;
  }

  test('a Namespace, a CustomResourceDefinition and an instance of it are created and read back', async () => {
    const config = kubeConfig();
    const core = config.makeApiClient(CoreV1Api);
    const extensions = config.makeApiClient(ApiextensionsV1Api);
    const custom = config.makeApiClient(CustomObjectsApi);

    await core.createNamespace({ body: { metadata: { name: 'harness-test' } } });
    assert.equal((await core.readNamespace({ name: 'harness-test' })).status?.phase, 'Active');

    const crd: V1CustomResourceDefinition = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.kamaji.test' },
      spec: {
        group: 'example.kamaji.test',
        names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
              },
            },
          },
        ],
      },
    };
    await extensions.createCustomResourceDefinition({ body: crd });
    await waitFor(
      async () => {
        const current = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
        const established = current.status?.conditions?.find((condition) => condition.type === 'Established');
        return established?.status === 'True' ? true : undefined;
      },
      { timeoutMs: 20_000, description: 'the CRD to be Established' },
    );

    const widget = {
      apiVersion: 'example.kamaji.test/v1',
      kind: 'Widget',
      metadata: { name: 'w1' },
      spec: { size: 3 },
    };
    const coordinates = { group: 'example.kamaji.test', version: 'v1', namespace: 'harness-test', plural: 'widgets' };
    await waitFor(() => custom.createNamespacedCustomObject({ ...coordinates, body: widget }), {
      timeoutMs: 20_000,
      description: 'the Widget to be accepted',
    });
    const read = (await custom.getNamespacedCustomObject({ ...coordinates, name: 'w1' })) as { spec: { size: number } };
    assert.equal(read.spec.size, 3);
  });

  test('etcd refuses a client without a certificate', async () => {
    const { etcd } = harness();
    const anonymous = connectEtcd({ endpoints: [etcd.endpoint], caCertificatePem: etcd.ca.certificatePem });
    try {
      await assert.rejects(anonymous.get('/registry/namespaces/default').string());
    } finally {
      anonymous.close();
    }
  });

  test('a user whose role covers one key prefix reads and writes inside it and is denied everywhere else', async () => {
    const { etcd } = harness();
    const root = connectEtcd(etcd.root);
    const tenant = connectEtcd(await harness().etcdConnectionAs('tenant-a'));
    try {
      await grantPrefixAccess(root, 'tenant-a', '/tenant-a/', { roles: undefined, permissions: undefined });
      await root.put('/tenant-ab/secret').value('belongs to tenant-ab');

      await tenant.put('/tenant-a/key').value('mine');
      assert.equal(await tenant.get('/tenant-a/key').string(), 'mine');
      assert.deepEqual(await tenant.getAll().prefix('/tenant-a/').keys(), ['/tenant-a/key']);

      const outside: [string, () => Promise<unknown>][] = [
        ['read a sibling prefix sharing the name', () => tenant.get('/tenant-ab/secret').string()],
        ['write a sibling prefix sharing the name', () => tenant.put('/tenant-ab/x').value('y').exec()],
        ['write the prefix without its slash', () => tenant.put('/tenant-a').value('y').exec()],
        ['read the API server registry', () => tenant.getAll().prefix('/registry/').keys()],
        ['list the whole key space', () => tenant.getAll().keys()],
        ['delete everything', () => tenant.delete().all().exec()],
      ];
      let denied = 0;
      for (const [attempt, call] of outside) {
        await assert.rejects(call(), /permission denied/i, `expected denial: ${attempt}`);
        denied += 1;
      }
      assert.equal(denied, outside.length);
      assert.equal(await root.get('/tenant-ab/secret').string(), 'belongs to tenant-ab', 'the neighbour is untouched');

      assert.equal(await deletePrefix(root, '/tenant-a/'), 1);
      await revokeAccess(root, 'tenant-a');
      await assert.rejects(tenant.get('/tenant-a/key').string(), /permission denied|user name not found|not found/i);
    } finally {
      tenant.close();
      root.close();
    }
  });
});
