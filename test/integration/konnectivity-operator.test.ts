import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppsV1Api } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { freePort } from '../../src/process/ports.ts';
import { NAMESPACE, tcps, useOperator } from '../support/operator.ts';

const NAME = 'konn';
const SECRETS = [`${NAME}-konnectivity-certificate`, `${NAME}-konnectivity-kubeconfig`];
const CONFIG_MAP = `${NAME}-konnectivity-egress-selector-configuration`;
const EGRESS_FLAG =
  '--egress-selector-config-file=/etc/kubernetes/konnectivity/configurations/egress-selector-configuration.yaml';

describe('kamaji manager adds konnectivity-server with spec.addons.konnectivity and removes it with it', () => {
  const operator = useOperator();

  async function observed() {
    const { core, config } = operator();
    const apps = config.makeApiClient(AppsV1Api);
    const deployment = await apps.readNamespacedDeployment({ name: NAME, namespace: NAMESPACE });
    const service = await core.readNamespacedService({ name: NAME, namespace: NAMESPACE });
    const configMap = await core.readNamespacedConfigMap({ name: CONFIG_MAP, namespace: NAMESPACE }).then(
      (object) => object,
      () => undefined,
    );
    const pod = deployment.spec?.template;
    return {
      containers: pod?.spec?.containers.map((container) => container.name) ?? [],
      apiServerArgs: pod?.spec?.containers.find((container) => container.name === 'kube-apiserver')?.args ?? [],
      volumes: pod?.spec?.volumes?.map((volume) => volume.name) ?? [],
      checksum: pod?.metadata?.annotations?.['kamaji.clastix.io/pod-template-checksum'],
      ports: service.spec?.ports?.map((port) => [port.name, port.port, port.targetPort]) ?? [],
      configMap,
      secrets: await operator().secretsOf(NAME),
    };
  }

  test('enabled: the sidecar, flag, ConfigMap, Secrets, Service port and status; removed: all of them', async () => {
    const port = await freePort();
    await operator().createTenant(NAME, port, { addons: { konnectivity: { server: { port: 8132 } } } });
    const enabled = await operator().waitTenant(
      NAME,
      'to run Konnectivity',
      (tcp) =>
        tcp.status?.addons?.konnectivity?.enabled === true && tcp.status.kubernetesResources?.deployment !== undefined,
    );
    const status = enabled.status?.addons?.konnectivity;
    assert.equal(status?.certificate?.secretName, SECRETS[0]);
    assert.equal(status?.kubeconfig?.secretName, SECRETS[1]);
    assert.equal(status?.configMap?.name, CONFIG_MAP);
    assert.ok(status?.certificate?.checksum && status.kubeconfig?.checksum && status.configMap?.checksum);
    assert.deepEqual(
      { name: status?.service?.name, namespace: status?.service?.namespace, port: status?.service?.port },
      { name: NAME, namespace: NAMESPACE, port: 8132 },
    );
    const honoured = enabled.status?.conditions?.find((condition) => condition.type === 'FieldsHonoured');
    assert.doesNotMatch(honoured?.message ?? '', /konnectivity/);

    const on = await observed();
    assert.deepEqual(on.containers, [
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'konnectivity-server',
    ]);
    assert.ok(on.apiServerArgs.includes(EGRESS_FLAG));
    assert.deepEqual(on.ports, [
      ['kube-apiserver', port, port],
      ['konnectivity-server', 8132, 8132],
    ]);
    assert.ok(on.configMap?.data?.['egress-selector-configuration.yaml']?.includes('konnectivity-server.socket'));
    assert.equal(on.configMap?.metadata?.ownerReferences?.[0]?.uid, enabled.metadata.uid);
    for (const secret of SECRETS) assert.ok(on.secrets.has(secret), `${secret} exists`);
    const certificateSecret = await operator().core.readNamespacedSecret({
      name: SECRETS[0] ?? '',
      namespace: NAMESPACE,
    });
    assert.equal(certificateSecret.type, 'kubernetes.io/tls');

    await operator().custom.patchNamespacedCustomObject({
      ...tcps,
      name: NAME,
      body: [{ op: 'remove', path: '/spec/addons/konnectivity' }],
    });
    const disabled: TenantControlPlane = await operator().waitTenant(
      NAME,
      'to drop Konnectivity',
      (tcp) => tcp.status?.addons?.konnectivity?.enabled === false,
    );
    assert.deepEqual(disabled.status?.addons?.konnectivity, { enabled: false });
    const off = await observed();
    assert.deepEqual(off.containers, ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
    assert.ok(!off.apiServerArgs.some((arg) => arg.startsWith('--egress-selector-config-file')));
    assert.ok(!off.volumes.some((volume) => /konnectivity|egress/.test(volume)), off.volumes.join(', '));
    assert.deepEqual(off.ports, [['kube-apiserver', port, port]]);
    assert.equal(off.configMap, undefined, 'the egress selector ConfigMap is deleted');
    for (const secret of SECRETS) assert.ok(!off.secrets.has(secret), `${secret} is deleted`);
    assert.notEqual(off.checksum, on.checksum, 'the pods roll');

    await operator().deleteTenant(NAME);
  });
});
