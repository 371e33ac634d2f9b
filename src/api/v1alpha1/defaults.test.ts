import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyTenantControlPlaneDefaults, dnsServiceIp } from './defaults.ts';
import { DEFAULT_ADMISSION_CONTROLLERS, type TenantControlPlaneSpec } from './tenant-control-plane.ts';

const minimal: TenantControlPlaneSpec = {
  controlPlane: { service: { serviceType: 'ClusterIP' } },
  kubernetes: { version: 'v1.35.4', kubelet: {} },
};

describe('TenantControlPlane defaults', () => {
  test('a minimal spec gets every default the operator relies on', () => {
    const spec = applyTenantControlPlaneDefaults(minimal);
    assert.deepEqual(spec.controlPlane.deployment, {
      replicas: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '100%' } },
      registrySettings: {
        registry: 'registry.k8s.io',
        apiServerImage: 'kube-apiserver',
        controllerManagerImage: 'kube-controller-manager',
        schedulerImage: 'kube-scheduler',
      },
      serviceAccountName: 'default',
    });
    assert.deepEqual(spec.networkProfile, {
      port: 6443,
      clusterDomain: 'cluster.local',
      serviceCidr: '10.96.0.0/16',
      podCidr: '10.244.0.0/16',
      serviceCidrs: ['10.96.0.0/16'],
      podCidrs: ['10.244.0.0/16'],
      dnsServiceIPs: ['10.96.0.10'],
    });
    assert.deepEqual(spec.kubernetes, {
      version: 'v1.35.4',
      kubelet: { preferredAddressTypes: ['InternalIP', 'ExternalIP', 'Hostname'] },
      admissionControllers: DEFAULT_ADMISSION_CONTROLLERS,
    });
    assert.equal(spec.kubernetes.admissionControllers.length, 17);
    assert.equal(spec.kubernetes.kubelet.cgroupfs, undefined, 'no cgroup driver default, as upstream');
    assert.equal(spec.addons, undefined, 'add-ons stay off');
    assert.equal(spec.dataStore, undefined);
    assert.deepEqual(minimal, {
      controlPlane: { service: { serviceType: 'ClusterIP' } },
      kubernetes: { version: 'v1.35.4', kubelet: {} },
    });
  });

  test('set values win over defaults, zero replicas included', () => {
    const spec = applyTenantControlPlaneDefaults({
      ...minimal,
      controlPlane: {
        service: { serviceType: 'ClusterIP' },
        deployment: { replicas: 0, registrySettings: { registry: 'mirror.example' } },
      },
      kubernetes: { version: 'v1.35.4', kubelet: { preferredAddressTypes: ['Hostname'] }, admissionControllers: [] },
      networkProfile: { port: 8443, serviceCidr: '10.100.0.0/16', dnsServiceIPs: ['10.100.0.53'] },
    });
    assert.equal(spec.controlPlane.deployment.replicas, 0);
    assert.equal(spec.controlPlane.deployment.registrySettings.registry, 'mirror.example');
    assert.equal(spec.controlPlane.deployment.registrySettings.apiServerImage, 'kube-apiserver');
    assert.deepEqual(spec.kubernetes.kubelet.preferredAddressTypes, ['Hostname']);
    assert.deepEqual(spec.kubernetes.admissionControllers, []);
    assert.equal(spec.networkProfile.port, 8443);
    assert.deepEqual(spec.networkProfile.serviceCidrs, ['10.100.0.0/16']);
    assert.deepEqual(spec.networkProfile.dnsServiceIPs, ['10.100.0.53']);
  });

  test('dual stack: the CIDR lists win, and there is one DNS Service IP per family', () => {
    const spec = applyTenantControlPlaneDefaults({
      ...minimal,
      networkProfile: { serviceCidrs: ['10.96.0.0/16', 'fd00::/120'], podCidrs: ['10.244.0.0/16', 'fd00:244::/56'] },
    });
    assert.deepEqual(spec.networkProfile.serviceCidrs, ['10.96.0.0/16', 'fd00::/120']);
    assert.deepEqual(spec.networkProfile.podCidrs, ['10.244.0.0/16', 'fd00:244::/56']);
    assert.deepEqual(spec.networkProfile.dnsServiceIPs, ['10.96.0.10', 'fd00::10']);
  });

  test('a present konnectivity add-on gets its server and agent defaults', () => {
    const spec = applyTenantControlPlaneDefaults({ ...minimal, addons: { konnectivity: {}, coreDNS: {} } });
    assert.deepEqual(spec.addons, {
      coreDNS: {},
      konnectivity: {
        server: { image: 'registry.k8s.io/kas-network-proxy/proxy-server', port: 8132 },
        agent: {
          image: 'registry.k8s.io/kas-network-proxy/proxy-agent',
          mode: 'DaemonSet',
          hostNetwork: false,
          tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
        },
      },
    });
  });

  test("the manager's default DataStore applies only to a TenantControlPlane naming none", () => {
    assert.equal(applyTenantControlPlaneDefaults(minimal, { defaultDataStore: 'default' }).dataStore, 'default');
    const named = applyTenantControlPlaneDefaults({ ...minimal, dataStore: 'gold' }, { defaultDataStore: 'default' });
    assert.equal(named.dataStore, 'gold');
  });

  test('the DNS Service IP is the 10th address of an IPv4 network and ::10 past an IPv6 one', () => {
    assert.equal(dnsServiceIp('10.96.0.0/16'), '10.96.0.10');
    assert.equal(dnsServiceIp('172.16.5.0/12'), '172.16.0.10', 'from the network address, not the one written');
    assert.equal(dnsServiceIp('2001:db8:abcd::/64'), '2001:db8:abcd::10');
    assert.throws(() => dnsServiceIp('10.96.0.0'), /"10\.96\.0\.0" is not a CIDR/);
  });
});
