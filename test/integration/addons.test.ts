/**
 * The addons phase against a real tenant API server: `kamaji manager` (in this process) provisions a tenant on the
 * harness; the tenant's own kube-apiserver then runs as a process from exactly the Secrets and Deployment the
 * manager wrote (no kubelet: the files are laid out as the pod would see them), and the Deployment's status is set
 * as a kubelet and deployment controller would report it, so the tenant is Ready. The manager then puts the addons
 * into that API server through `super-admin.conf`, and removing `spec.addons.coreDNS` removes exactly CoreDNS.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, type KubernetesObject, type V1Condition, type V1Deployment } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { patchStatus, readObject } from '../../src/controller/apply.ts';
import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { builtinResources, KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { objectNames } from '../../src/tenant/names.ts';
import { ADDON_TYPES, ADDONS, type AddonKey, LABEL_ADDON } from '../../src/tenant/steps/addons/common.ts';
import { ensureComponents } from '../../src/toolchain/ensure.ts';
import { waitFor } from '../../src/util/wait.ts';
import { NAMESPACE, tcps, useOperator } from '../support/operator.ts';
import { materializePodFiles } from '../support/tenant-pod.ts';

const condition = (tcp: TenantControlPlane, type: string): V1Condition | undefined =>
  (tcp.status?.conditions as V1Condition[] | undefined)?.find((entry) => entry.type === type);

describe('addons in a tenant cluster, from spec.addons', () => {
  const operator = useOperator();
  const supervisor = new Supervisor();
  let root = '';
  let tenant: KubeClient | undefined;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kamaji-addons-'));
  });

  after(async () => {
    tenant?.close();
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    await rm(root, { recursive: true, force: true });
  });

  /** `kind namespace/name` of every object in the tenant labelled as the addon's (what the phase would delete). */
  async function objectsOf(addon: AddonKey): Promise<string[]> {
    const found = new Set<string>();
    for (const type of ADDON_TYPES[addon]) {
      const { items } = await (tenant as KubeClient).request<{ items: KubernetesObject[] }>(
        'GET',
        resourcePath(type, { namespace: type.namespaced ? 'kube-system' : undefined }),
        { query: { labelSelector: `${LABEL_ADDON}=${ADDONS[addon]}` } },
      );
      for (const item of items) {
        const { namespace, name } = item.metadata ?? {};
        found.add(`${type.kind} ${namespace ? `${namespace}/` : ''}${name}`);
      }
    }
    return [...found].sort();
  }

  test('the addons are applied in the tenant; removing coreDNS deletes exactly its objects, re-adding restores them', {
    timeout: 240_000,
  }, async () => {
    const { custom, config } = operator();
    const port = await freePort();
    await operator().createTenant('dns', port, {
      networkProfile: { port, certSANs: ['127.0.0.1'], address: '127.0.0.1' },
      addons: { coreDNS: {}, kubeProxy: {}, konnectivity: { server: { port: 8132 } } },
    });
    const provisioned = await operator().waitProvisioned('dns');
    assert.equal(condition(provisioned, 'AddonsReady')?.status, 'Unknown', 'nothing is tried before it runs');

    // The tenant's kube-apiserver, from the manager's Deployment and Secrets.
    const apps = config.makeApiClient(AppsV1Api);
    const deployment: V1Deployment = await apps.readNamespacedDeployment({ namespace: NAMESPACE, name: 'dns' });
    await materializePodFiles(deployment, await operator().secretsOf('dns'), root);
    const container = deployment.spec?.template.spec?.containers.find((entry) => entry.name === 'kube-apiserver');
    assert.ok(container?.args);
    const binaries = await ensureComponents(['kube-apiserver']);
    supervisor.start({
      name: 'tenant-kube-apiserver',
      command: binaries.get('kube-apiserver')?.path ?? '',
      // Without konnectivity-server beside it (konnectivity-server.test.ts runs that path): no egress selector.
      args: container.args
        .filter((arg) => !arg.startsWith('--egress-selector-config-file='))
        .map((arg) => arg.replaceAll('=/etc/kubernetes', `=${root}/etc/kubernetes`)),
      logFile: join(root, 'kube-apiserver.log'),
    });
    const admin = (await operator().secretsOf('dns')).get(objectNames('dns').adminKubeconfigSecret)?.[
      'super-admin.conf'
    ];
    assert.ok(admin, 'the manager wrote super-admin.conf');
    tenant = new KubeClient(accessFromKubeconfig(admin, root, 'super-admin.conf'));
    const client = tenant;
    // Ready: its post-start hooks done (the bootstrap RBAC policy among them), so that counting objects is stable.
    const readyz = async () => {
      // Plain text "ok", not JSON: read as a stream, which fails on an error status.
      (await client.stream('/readyz')).resume();
      return true;
    };
    await waitFor(readyz, {
      timeoutMs: 90_000,
      intervalMs: 500,
      description: "the tenant's API server to be ready",
    });

    // What the kubelet and the deployment controller would report: every replica up and ready.
    const harness = new KubeClient(accessFromKubeconfig(operator().harness.kubeconfigYaml, root, 'harness'));
    try {
      const live = await readObject<V1Deployment>(harness, builtinResources.deployment, {
        namespace: NAMESPACE,
        name: 'dns',
      });
      await patchStatus(
        harness,
        builtinResources.deployment,
        { namespace: NAMESPACE, name: 'dns' },
        {
          observedGeneration: live?.metadata?.generation,
          replicas: 1,
          updatedReplicas: 1,
          readyReplicas: 1,
          availableReplicas: 1,
        },
      );
    } finally {
      harness.close();
    }

    const ready = await operator().waitTenant('dns', 'to have its addons applied', (tcp) => {
      return condition(tcp, 'AddonsReady')?.status === 'True' && tcp.status?.addons?.coreDNS?.enabled === true;
    });
    assert.equal(
      condition(ready, 'AddonsReady')?.message,
      'in the tenant: CoreDNS, kube-proxy, the konnectivity agent',
    );
    assert.equal(condition(ready, 'Ready')?.status, 'True', condition(ready, 'Ready')?.message);
    const addons = ready.status?.addons;
    assert.match(addons?.coreDNS?.checksum ?? '', /^[0-9a-f]{64}$/);
    assert.ok(addons?.coreDNS?.lastUpdate);
    assert.equal(addons?.kubeProxy?.enabled, true);
    assert.equal(addons?.konnectivity?.enabled, true);
    assert.equal(addons?.konnectivity?.agent?.name, 'konnectivity-agent');
    assert.equal(addons?.konnectivity?.agent?.namespace, 'kube-system');
    assert.equal(addons?.konnectivity?.agent?.mode, 'DaemonSet');
    assert.equal(addons?.konnectivity?.sa?.name, 'konnectivity-agent');
    assert.equal(addons?.konnectivity?.clusterrolebinding?.name, 'system:konnectivity-server');

    const coreDNS = [
      'ClusterRole system:coredns',
      'ClusterRoleBinding system:coredns',
      'ConfigMap kube-system/coredns',
      'Deployment kube-system/coredns',
      'Service kube-system/kube-dns',
      'ServiceAccount kube-system/coredns',
    ];
    assert.deepEqual(await objectsOf('coreDNS'), coreDNS);
    const kubeProxy = await objectsOf('kubeProxy');
    assert.equal(kubeProxy.length, 6, kubeProxy.join(', '));
    const konnectivity = await objectsOf('konnectivity');
    assert.deepEqual(konnectivity, [
      'ClusterRoleBinding system:konnectivity-server',
      'DaemonSet kube-system/konnectivity-agent',
      'ServiceAccount kube-system/konnectivity-agent',
    ]);
    const dns = await client.request<{ spec: { clusterIP: string } }>(
      'GET',
      '/api/v1/namespaces/kube-system/services/kube-dns',
    );
    assert.equal(dns.spec.clusterIP, '10.96.0.10');

    // Someone else's objects in kube-system, one of them named like CoreDNS's but not labelled.
    for (const name of ['bystander', 'coredns-custom']) {
      await client.request('POST', '/api/v1/namespaces/kube-system/configmaps', {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' } },
      });
    }
    const countAll = async () => {
      let total = 0;
      for (const path of [
        '/api/v1/namespaces/kube-system/configmaps',
        '/api/v1/namespaces/kube-system/serviceaccounts',
        '/api/v1/namespaces/kube-system/services',
        '/apis/apps/v1/namespaces/kube-system/deployments',
        '/apis/apps/v1/namespaces/kube-system/daemonsets',
        '/apis/rbac.authorization.k8s.io/v1/clusterroles',
        '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      ]) {
        total += (await client.request<{ items: unknown[] }>('GET', path)).items.length;
      }
      return total;
    };
    const before = await countAll();

    await custom.patchNamespacedCustomObject({
      ...tcps,
      name: 'dns',
      body: [{ op: 'remove', path: '/spec/addons/coreDNS' }],
    });
    const removed = await operator().waitTenant(
      'dns',
      'to remove CoreDNS',
      (tcp) => tcp.status?.addons?.coreDNS?.enabled === false && condition(tcp, 'AddonsReady')?.status === 'True',
    );
    assert.equal(removed.status?.addons?.coreDNS?.checksum, undefined, 'the checksum is cleared');
    assert.deepEqual(await objectsOf('coreDNS'), []);
    assert.equal(await countAll(), before - coreDNS.length, 'exactly the CoreDNS objects went');
    assert.deepEqual(await objectsOf('kubeProxy'), kubeProxy);
    assert.deepEqual(await objectsOf('konnectivity'), konnectivity);
    for (const name of ['bystander', 'coredns-custom', 'kubeadm-config']) {
      assert.ok(
        await readObject(client, builtinResources.configMap, { namespace: 'kube-system', name }),
        `ConfigMap ${name} stays`,
      );
    }

    await custom.patchNamespacedCustomObject({
      ...tcps,
      name: 'dns',
      body: [{ op: 'add', path: '/spec/addons/coreDNS', value: {} }],
    });
    await operator().waitTenant('dns', 'to restore CoreDNS', (tcp) => tcp.status?.addons?.coreDNS?.enabled === true);
    assert.deepEqual(await objectsOf('coreDNS'), coreDNS);
    assert.equal(await countAll(), before);
  });
});
