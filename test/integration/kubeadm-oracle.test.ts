/**
 * kubeadm itself as the oracle for the objects the kubeadm phase writes into a tenant: `kubeadm init phase
 * bootstrap-token` and `kubeadm init phase upload-config all` run against a real kube-apiserver, and every object
 * they create is compared with what `desiredKubeadmObjects` builds for the same settings; then ours are applied on
 * top of theirs, as the phase does (server-side apply), and the API server accepts every one.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { runCommand } from '../../src/cluster/command.ts';
import { readObject, serverSideApply } from '../../src/controller/apply.ts';
import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { readSingleKubeconfig } from '../../src/pki/kubeconfig.ts';
import {
  clusterConfiguration,
  describeObject,
  desiredKubeadmObjects,
  type KubeadmSettings,
  kubeletConfiguration,
  rbacResources,
} from '../../src/tenant/steps/kubeadm.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { useControlPlane } from '../support/control-plane.ts';

type Loose = Record<string, unknown> & { metadata?: { name?: string; namespace?: string } };

/** What an RBAC object grants, independent of order and of defaulted fields. */
function grants(object: Loose): unknown {
  const subjects = ((object.subjects as Loose[] | undefined) ?? []).map((subject) => `${subject.kind}/${subject.name}`);
  const rules = ((object.rules as Loose[] | undefined) ?? []).map((rule) =>
    JSON.stringify(
      Object.fromEntries(
        ['apiGroups', 'resources', 'resourceNames', 'verbs'].map((key) => [
          key,
          [...((rule[key] as string[]) ?? [])].sort(),
        ]),
      ),
    ),
  );
  const roleRef = object.roleRef as Loose | undefined;
  return {
    roleRef: roleRef ? `${roleRef.kind}/${roleRef.name}` : undefined,
    subjects: subjects.sort(),
    rules: rules.sort(),
  };
}

describe('the kubeadm objects against kubeadm itself', () => {
  const harness = useControlPlane();

  test("kubeadm's bootstrap-token and upload-config phases create exactly what the builders make, and ours apply over them", {
    timeout: 180_000,
  }, async () => {
    const { kubeconfigYaml, kubeconfigPath, dir } = harness();
    const admin = readSingleKubeconfig(kubeconfigYaml);
    assert.ok(admin?.caCertificatePem, 'the harness kubeconfig carries its CA');
    const url = new URL(admin.server);
    const settings: KubeadmSettings = {
      clusterName: 'oracle',
      kubernetesVersion: 'v1.35.4',
      endpointAddress: url.hostname,
      endpointPort: Number(url.port),
      podSubnet: '10.244.0.0/16',
      serviceSubnet: '10.96.0.0/16',
      dnsDomain: 'cluster.local',
      clusterDNS: ['10.96.0.10'],
      cgroupDriver: 'cgroupfs',
      imageRepository: 'registry.k8s.io',
    };
    // kubeadm's own configuration: the same ClusterConfiguration and KubeletConfiguration the builders write.
    const config = join(dir, 'kubeadm-oracle.yaml');
    await writeFile(
      config,
      [
        [
          'apiVersion: kubeadm.k8s.io/v1beta4',
          'kind: InitConfiguration',
          'localAPIEndpoint:',
          // Any non-loopback address: these phases start nothing on it, and kubeadm refuses a loopback one.
          '  advertiseAddress: 192.0.2.1',
          `  bindPort: ${url.port}`,
          'nodeRegistration:',
          '  name: oracle-node',
          '  criSocket: unix:///run/containerd/containerd.sock',
          '',
        ].join('\n'),
        clusterConfiguration(settings),
        kubeletConfiguration(settings),
      ].join('---\n'),
    );
    const kubeadm = (await ensureComponent('kubeadm')).path;
    for (const phase of [['bootstrap-token'], ['upload-config', 'all']]) {
      await runCommand(kubeadm, ['init', 'phase', ...phase, '--kubeconfig', kubeconfigPath, '--config', config]);
    }

    const client = new KubeClient(accessFromKubeconfig(kubeconfigYaml, dir, 'harness'));
    try {
      const ours = desiredKubeadmObjects(settings, admin.caCertificatePem);
      // Every kubeadm RBAC object kubeadm created is one of ours, granting the same, and the other way round
      // (but for kubeadm:cluster-admins, which `kubeadm init` binds in its kubeconfig phase, not in these two).
      const compared: string[] = [];
      for (const type of Object.values(rbacResources)) {
        const list = await client.request<{ items: Loose[] }>('GET', resourcePath(type));
        for (const theirs of list.items.filter((item) => item.metadata?.name?.startsWith('kubeadm:'))) {
          const name = `${type.kind} ${theirs.metadata?.namespace ? `${theirs.metadata.namespace}/` : ''}${theirs.metadata?.name}`;
          const mine = ours.find((entry) => describeObject(entry) === name);
          assert.ok(mine, `kubeadm created ${name}, which the builders do not make`);
          assert.deepEqual(grants(mine.object as Loose), grants(theirs), name);
          compared.push(name);
        }
      }
      const rbacKinds = new Set<string>(Object.values(rbacResources).map((type) => type.kind));
      assert.deepEqual(
        compared.sort(),
        ours
          .filter((entry) => rbacKinds.has(entry.type.kind))
          .map(describeObject)
          .filter((name) => name !== 'ClusterRoleBinding kubeadm:cluster-admins')
          .sort(),
      );
      const configMap = async (namespace: string, name: string) =>
        (await readObject<{ data: Record<string, string> }>(client, ours[0]!.type, { namespace, name }))?.data ?? {};
      const mine = (namespace: string, name: string) =>
        (
          ours.find((entry) => describeObject(entry) === `ConfigMap ${namespace}/${name}`)?.object as
            | { data: Record<string, string> }
            | undefined
        )?.data ?? {};

      const clusterInfo = (data: Record<string, string>) => {
        const kubeconfig = parse(data.kubeconfig ?? '') as { clusters: Loose[] };
        return kubeconfig.clusters.map((entry) => entry.cluster);
      };
      assert.deepEqual(
        clusterInfo(mine('kube-public', 'cluster-info')),
        clusterInfo(await configMap('kube-public', 'cluster-info')),
        'cluster-info: the same CA and server',
      );
      const clusterConfig = (data: Record<string, string>) => {
        const parsed = parse(data.ClusterConfiguration ?? '') as Loose;
        const { apiVersion, kind, kubernetesVersion, controlPlaneEndpoint, networking } = parsed;
        return { apiVersion, kind, kubernetesVersion, controlPlaneEndpoint, networking };
      };
      assert.deepEqual(
        clusterConfig(mine('kube-system', 'kubeadm-config')),
        clusterConfig(await configMap('kube-system', 'kubeadm-config')),
        'kubeadm-config',
      );
      const kubeletConfig = (data: Record<string, string>) => {
        const parsed = parse(data.kubelet ?? '') as Loose;
        const { apiVersion, kind, cgroupDriver, clusterDNS, clusterDomain, authentication, rotateCertificates } =
          parsed;
        const authorization = parsed.authorization as Loose | undefined;
        return {
          apiVersion,
          kind,
          cgroupDriver,
          clusterDNS,
          clusterDomain,
          authentication,
          authorizationMode: authorization?.mode,
          rotateCertificates,
        };
      };
      assert.deepEqual(
        kubeletConfig(mine('kube-system', 'kubelet-config')),
        kubeletConfig(await configMap('kube-system', 'kubelet-config')),
        'kubelet-config',
      );

      // Ours over kubeadm's (the phase meeting a tenant someone set up by hand): every apply is accepted.
      for (const { type, object } of ours) await serverSideApply(client, type, object as KubernetesObject);
      for (const { type, object } of ours) {
        const { namespace, name } = object.metadata ?? {};
        assert.ok(await readObject(client, type, { namespace, name }), `${type.kind} ${name} exists`);
      }
    } finally {
      client.close();
    }
  });
});
