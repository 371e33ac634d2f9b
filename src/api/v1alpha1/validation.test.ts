import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TenantControlPlaneSpec } from './tenant-control-plane.ts';
import { validateDataStoreSpec, validateTenantControlPlaneSpec } from './validation.ts';

function spec(overrides: Partial<TenantControlPlaneSpec> = {}): TenantControlPlaneSpec {
  return {
    controlPlane: { service: { serviceType: 'ClusterIP' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
    ...overrides,
  };
}

const withVersion = (version: string) => spec({ kubernetes: { version, kubelet: {} } });
const messages = (problems: { field: string; message: string }[]) => problems.map((p) => `${p.field}: ${p.message}`);

describe('TenantControlPlane validation', () => {
  test('the konnectivity agent port is free in the pod, and a node port with a NodePort Service', () => {
    const konnectivity = (port: number, serviceType: 'ClusterIP' | 'NodePort', apiPort?: number) =>
      messages(
        validateTenantControlPlaneSpec(
          spec({
            controlPlane: { service: { serviceType } },
            ...(apiPort ? { networkProfile: { port: apiPort } } : {}),
            addons: { konnectivity: { server: { port } } },
          }),
        ),
      );
    assert.deepEqual(konnectivity(8132, 'ClusterIP'), []);
    assert.deepEqual(konnectivity(31132, 'NodePort', 31443), []);
    assert.deepEqual(konnectivity(8132, 'NodePort', 31443), [
      'spec.addons.konnectivity.server.port: with a NodePort Service, 8132 is also the node port agents dial; choose one in 30000-32767',
    ]);
    assert.deepEqual(konnectivity(6443, 'ClusterIP'), [
      'spec.addons.konnectivity.server.port: 6443 is the API server port (networkProfile.port); choose another port for the agents, e.g. 8132',
    ]);
    assert.deepEqual(konnectivity(8134, 'ClusterIP'), [
      'spec.addons.konnectivity.server.port: 8134 is taken in the control-plane pod; choose another port for the agents, e.g. 8132',
    ]);
  });

  test('a plain spec has no problems', () => {
    assert.deepEqual(validateTenantControlPlaneSpec(spec()), []);
  });

  test('the version must be vX.Y.Z within v1.33 to v1.37', () => {
    for (const version of ['v1.33.0', 'v1.37.9'])
      assert.deepEqual(validateTenantControlPlaneSpec(withVersion(version)), []);
    assert.deepEqual(messages(validateTenantControlPlaneSpec(withVersion('1.35.4'))), [
      'spec.kubernetes.version: "1.35.4" is not a version of the form vX.Y.Z, e.g. v1.35.4',
    ]);
    for (const version of ['v1.26.0', 'v1.38.0', 'v2.35.0']) {
      assert.deepEqual(messages(validateTenantControlPlaneSpec(withVersion(version))), [
        `spec.kubernetes.version: ${version} is not supported: Kamaji runs v1.33 to v1.37`,
      ]);
    }
  });

  test('from the installed version: patches either way, minors up one at a time', () => {
    const check = (desired: string, installedVersion: string) =>
      messages(validateTenantControlPlaneSpec(withVersion(desired), { installedVersion }));
    assert.deepEqual(check('v1.35.1', 'v1.35.4'), []);
    assert.deepEqual(check('v1.36.0', 'v1.35.4'), []);
    assert.deepEqual(check('v1.34.0', 'v1.35.4'), ['spec.kubernetes.version: cannot downgrade from v1.35 to v1.34']);
    assert.deepEqual(check('v1.37.0', 'v1.35.4'), [
      'spec.kubernetes.version: upgrade one minor at a time: from v1.35 the next is v1.36',
    ]);
  });

  test('network: the advertised address is an IP, CIDRs parse, dual stack has one of each family', () => {
    const problems = validateTenantControlPlaneSpec(
      spec({
        networkProfile: {
          advertiseAddress: 'api.example.com',
          serviceCidr: '10.96.0.0',
          podCidrs: ['10.244.0.0/16', '10.245.0.0/16'],
          serviceCidrs: ['10.96.0.0/16', 'fd00::/129'],
          loadBalancerSourceRanges: ['0.0.0.0/0', 'everyone'],
          dnsServiceIPs: ['10.96.0.10', '10.97.0.10', 'dns'],
        },
      }),
    );
    assert.deepEqual(messages(problems), [
      'spec.networkProfile.advertiseAddress: "api.example.com" is not an IP address (a hostname belongs in certSANs)',
      'spec.networkProfile.serviceCidr: "10.96.0.0" is not a CIDR such as 10.96.0.0/16',
      'spec.networkProfile.serviceCidrs[1]: "fd00::/129" is not a CIDR such as 10.96.0.0/16',
      'spec.networkProfile.loadBalancerSourceRanges[1]: "everyone" is not a CIDR such as 10.96.0.0/16',
      'spec.networkProfile.podCidrs: both entries are IPv4: a dual-stack cluster needs one IPv4 and one IPv6 CIDR',
      'spec.networkProfile.dnsServiceIPs[1]: 10.97.0.10 is outside the service CIDRs',
      'spec.networkProfile.dnsServiceIPs[2]: "dns" is not an IP address',
    ]);
    const dualStack = spec({
      networkProfile: {
        advertiseAddress: 'fd00::1',
        serviceCidrs: ['10.96.0.0/16', 'fd00::/120'],
        dnsServiceIPs: ['10.96.0.10', 'fd00::10'],
      },
    });
    assert.deepEqual(validateTenantControlPlaneSpec(dualStack), []);
  });

  test('kubelet address types appear once each', () => {
    const problems = validateTenantControlPlaneSpec(
      spec({ kubernetes: { version: 'v1.35.4', kubelet: { preferredAddressTypes: ['InternalIP', 'InternalIP'] } } }),
    );
    assert.deepEqual(messages(problems), [
      'spec.kubernetes.kubelet.preferredAddressTypes[1]: "InternalIP" repeats spec.kubernetes.kubelet.preferredAddressTypes[0]',
    ]);
  });

  test('additional mounts and containers must not clash with each other or with managed containers', () => {
    const problems = validateTenantControlPlaneSpec(
      spec({
        controlPlane: {
          service: { serviceType: 'ClusterIP' },
          deployment: {
            additionalVolumeMounts: {
              apiServer: [
                { name: 'a', mountPath: '/extra' },
                { name: 'b', mountPath: '/extra' },
              ],
              scheduler: [{ name: 'a', mountPath: '/extra' }],
            },
            additionalInitContainers: [{ name: 'setup' }],
            additionalContainers: [{ name: 'kube-apiserver' }, { name: 'setup' }],
          },
        },
      }),
    );
    assert.deepEqual(messages(problems), [
      'spec.controlPlane.deployment.additionalVolumeMounts.apiServer[1].mountPath: "/extra" repeats spec.controlPlane.deployment.additionalVolumeMounts.apiServer[0]',
      'spec.controlPlane.deployment.additionalContainers[0].name: "kube-apiserver" is a container Kamaji manages; choose another name',
      'spec.controlPlane.deployment.additionalContainers[1].name: "setup" is already the name of additionalInitContainers[0]',
    ]);
  });
});

describe('tenant datastore identity', () => {
  test('a schema or user that could reach another key range or be the backend superuser is refused', () => {
    const cases: [Partial<TenantControlPlaneSpec>, string][] = [
      [{ dataStoreUsername: 'root' }, 'spec.dataStoreUsername: "root" is reserved by the datastore'],
      [{ dataStoreUsername: 'postgres' }, 'spec.dataStoreUsername: "postgres" is reserved by the datastore'],
      [{ dataStoreSchema: 'victim/x' }, 'spec.dataStoreSchema: "victim/x" is not a datastore identifier'],
      [{ dataStoreSchema: 'Victim' }, 'spec.dataStoreSchema: "Victim" is not a datastore identifier'],
      [{ dataStoreSchema: '' }, 'spec.dataStoreSchema: "" is not a datastore identifier'],
      [
        { dataStoreUsername: 'a'.repeat(64) },
        `spec.dataStoreUsername: "${'a'.repeat(64)}" is not a datastore identifier`,
      ],
    ];
    for (const [identity, expected] of cases) {
      const found = messages(validateTenantControlPlaneSpec(spec(identity)));
      assert.equal(found.length, 1, `${JSON.stringify(identity)}: ${found.join('; ')}`);
      assert.ok(found[0]?.startsWith(expected), `${found[0]} should start with ${expected}`);
    }
  });

  test('identifiers derived from a UID and ordinary names pass', () => {
    const identity = { dataStoreSchema: '1b4e28ba_2fa1_11d2_883f_0016d3cca427', dataStoreUsername: 'tenant_a' };
    assert.deepEqual(validateTenantControlPlaneSpec(spec(identity)), []);
  });
});

describe('DataStore validation', () => {
  test('endpoints are host:port without a scheme', () => {
    const problems = validateDataStoreSpec({
      driver: 'etcd',
      endpoints: ['etcd-0.etcd:2379', 'https://etcd-1:2379', 'etcd-2', '[fd00::1]:2379', 'etcd-3:99999', 'a/b:1'],
    });
    assert.deepEqual(
      problems.map((problem) => problem.field),
      ['spec.endpoints[1]', 'spec.endpoints[2]', 'spec.endpoints[4]', 'spec.endpoints[5]'],
    );
  });

  test('each problem says how to write the endpoint', () => {
    const problems = validateDataStoreSpec({
      driver: 'etcd',
      endpoints: ['https://etcd-1:2379', 'etcd-2', 'etcd-3:99999', 'a/b:1'],
    });
    assert.deepEqual(messages(problems), [
      'spec.endpoints[0]: "https://etcd-1:2379" has a URL scheme; write it as host:port without "https://" (Kamaji adds it): etcd-1:2379',
      'spec.endpoints[1]: "etcd-2" has no port; write it as host:port, e.g. etcd-2:2379',
      'spec.endpoints[2]: "etcd-3:99999": port 99999 is out of range; use a port from 1 to 65535',
      'spec.endpoints[3]: "a/b:1" is not host:port; write it as host:port (IPv6 as [address]:port), e.g. etcd-0.etcd.kamaji-system.svc:2379',
    ]);
  });
});
