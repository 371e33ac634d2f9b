/**
 * kubeadm itself as the oracle for the CoreDNS and kube-proxy objects: `kubeadm init phase addon coredns` and
 * `addon kube-proxy` run against a real kube-apiserver, and what they create is compared with what the builders
 * make for the same settings (RBAC grants, the Corefile, the workloads' images, commands, mounts and tolerations,
 * the Service, kube-proxy's configuration); then ours are applied over theirs, as the addons phase would meet a
 * cluster set up by hand, and the API server accepts every one.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { applyTenantControlPlaneDefaults } from '../../src/api/v1alpha1/defaults.ts';
import type { TenantControlPlaneSpec } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { readObject, serverSideApply } from '../../src/controller/apply.ts';
import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { LABEL_ADDON } from '../../src/tenant/steps/addons/common.ts';
import { coreDNSObjects } from '../../src/tenant/steps/addons/coredns.ts';
import { kubeProxyConfiguration, kubeProxyObjects } from '../../src/tenant/steps/addons/kube-proxy.ts';
import { clusterConfiguration, kubeadmSettings } from '../../src/tenant/steps/kubeadm.ts';
import { describeObject, type TenantObject } from '../../src/tenant/steps/objects.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { useControlPlane } from '../support/control-plane.ts';

// biome-ignore lint/suspicious/noExplicitAny: the test walks API objects and parsed YAML freely
type Loose = Record<string, any>;

/** What an RBAC object grants, independent of order and of defaulted fields. */
function grants(object: Loose): unknown {
  const rules = (object.rules ?? []).map((rule: Loose) =>
    JSON.stringify(
      Object.fromEntries(
        ['apiGroups', 'resources', 'resourceNames', 'verbs'].map((key) => [key, [...(rule[key] ?? [])].sort()]),
      ),
    ),
  );
  return {
    roleRef: object.roleRef ? `${object.roleRef.kind}/${object.roleRef.name}` : undefined,
    subjects: (object.subjects ?? []).map((subject: Loose) => `${subject.kind}/${subject.namespace}/${subject.name}`),
    rules: rules.sort(),
  };
}

/** The parts of a pod template kubeadm sets (the API server defaults the rest on both sides alike). */
function pod(template: Loose): unknown {
  const spec = template.spec;
  return {
    labels: template.metadata.labels,
    priorityClassName: spec.priorityClassName,
    serviceAccountName: spec.serviceAccountName,
    hostNetwork: spec.hostNetwork,
    dnsPolicy: spec.dnsPolicy,
    tolerations: spec.tolerations,
    nodeSelector: spec.nodeSelector,
    affinity: spec.affinity,
    volumes: spec.volumes,
    containers: spec.containers.map((container: Loose) => ({
      name: container.name,
      image: container.image,
      imagePullPolicy: container.imagePullPolicy,
      command: container.command,
      args: container.args,
      env: container.env?.filter((variable: Loose) => !/proxy/i.test(variable.name)),
      ports: container.ports,
      volumeMounts: container.volumeMounts,
      securityContext: container.securityContext,
      resources: container.resources,
      livenessProbe: container.livenessProbe,
      readinessProbe: container.readinessProbe,
    })),
  };
}

describe('the CoreDNS and kube-proxy objects against kubeadm itself', () => {
  const harness = useControlPlane();

  test("kubeadm's addon phases create what the builders make, and ours apply over theirs", {
    timeout: 180_000,
  }, async () => {
    const { kubeconfigYaml, kubeconfigPath, dir } = harness();
    const url = new URL(accessFromKubeconfig(kubeconfigYaml, dir, 'harness').server);
    const endpoint = { address: url.hostname, port: Number(url.port) };
    const spec = applyTenantControlPlaneDefaults({
      controlPlane: { service: { serviceType: 'ClusterIP' } },
      kubernetes: { version: 'v1.35.4', kubelet: {} },
      addons: { coreDNS: {}, kubeProxy: {} },
    } as TenantControlPlaneSpec);
    const config = join(dir, 'kubeadm-addons.yaml');
    await writeFile(
      config,
      [
        [
          'apiVersion: kubeadm.k8s.io/v1beta4',
          'kind: InitConfiguration',
          'localAPIEndpoint:',
          '  advertiseAddress: 192.0.2.1',
          `  bindPort: ${url.port}`,
          'nodeRegistration:',
          '  name: oracle-node',
          '  criSocket: unix:///run/containerd/containerd.sock',
          '',
        ].join('\n'),
        clusterConfiguration(kubeadmSettings('oracle', spec, endpoint)),
        kubeProxyConfiguration(spec),
      ].join('---\n'),
    );
    const kubeadm = (await ensureComponent('kubeadm')).path;
    for (const addon of ['coredns', 'kube-proxy']) {
      await runCommand(kubeadm, ['init', 'phase', 'addon', addon, '--kubeconfig', kubeconfigPath, '--config', config]);
    }

    const client = new KubeClient(accessFromKubeconfig(kubeconfigYaml, dir, 'harness'));
    try {
      const ours: TenantObject[] = [...coreDNSObjects(spec), ...kubeProxyObjects(spec, endpoint)];
      const theirs = new Map<string, Loose>();
      for (const entry of ours) {
        const { namespace, name } = entry.object.metadata ?? {};
        const found = await readObject<Loose>(client, entry.type, { namespace, name });
        assert.ok(found, `kubeadm created ${describeObject(entry)}`);
        theirs.set(describeObject(entry), found);
      }
      const mine = (name: string) => ours.find((entry) => describeObject(entry) === name)?.object as Loose;
      const compare = (name: string, view: (object: Loose) => unknown, object = mine(name)) =>
        assert.deepEqual(view(object), view(theirs.get(name) ?? {}), name);
      /** Ours as the API server would store it (its defaults filled in), by a dry-run create under another name. */
      const defaulted = async (name: string): Promise<Loose> => {
        const entry = ours.find((candidate) => describeObject(candidate) === name);
        assert.ok(entry);
        const { namespace } = entry.object.metadata ?? {};
        return client.request<Loose>('POST', resourcePath(entry.type, { namespace }), {
          query: { dryRun: 'All' },
          body: {
            ...entry.object,
            metadata: { ...entry.object.metadata, name: `${entry.object.metadata?.name}-ours` },
          },
        });
      };

      for (const name of [
        'ClusterRole system:coredns',
        'ClusterRoleBinding system:coredns',
        'ClusterRoleBinding kubeadm:node-proxier',
        'Role kube-system/kube-proxy',
        'RoleBinding kube-system/kube-proxy',
      ]) {
        compare(name, grants);
      }
      compare('ConfigMap kube-system/coredns', (object) => object.data);
      compare(
        'Deployment kube-system/coredns',
        (object) => ({
          replicas: object.spec.replicas,
          selector: object.spec.selector,
          strategy: object.spec.strategy,
          pod: pod(object.spec.template),
        }),
        await defaulted('Deployment kube-system/coredns'),
      );
      compare('Service kube-system/kube-dns', (object) => ({
        labels: { ...object.metadata.labels, [LABEL_ADDON]: undefined },
        clusterIP: object.spec.clusterIP,
        ports: object.spec.ports,
        selector: object.spec.selector,
      }));
      compare(
        'DaemonSet kube-system/kube-proxy',
        (object) => ({
          selector: object.spec.selector,
          updateStrategy: object.spec.updateStrategy,
          pod: pod(object.spec.template),
        }),
        await defaulted('DaemonSet kube-system/kube-proxy'),
      );
      compare('ConfigMap kube-system/kube-proxy', (object) => {
        const proxy = parse(object.data['config.conf']);
        return {
          kubeconfig: parse(object.data['kubeconfig.conf']),
          config: {
            mode: proxy.mode,
            clusterCIDR: proxy.clusterCIDR,
            bindAddress: proxy.bindAddress,
            maxPerCore: proxy.conntrack.maxPerCore,
            kubeconfig: proxy.clientConnection.kubeconfig,
          },
        };
      });

      // Ours over kubeadm's: every apply is accepted (the Service keeps its cluster IP, the selectors match).
      for (const { type, object } of ours) await serverSideApply(client, type, object);
    } finally {
      client.close();
    }
  });
});
