/**
 * The defaults the operator relies on, as pure functions. Schema defaults come from the schema itself (the same
 * values the API server fills in); the rest are the ones upstream's admission webhook adds.
 */

import { addressInCidr, parseCidr } from '../../util/ip.ts';
import { withDefaults } from '../schema.ts';
import {
  type AddonsSpec,
  type ControlPlaneSpec,
  type DeploymentSpec,
  type KonnectivitySpec,
  type KubeletSpec,
  type KubernetesSpec,
  type NetworkProfile,
  type RegistrySettings,
  type TenantControlPlaneSpec,
  TenantControlPlaneSpecSchema,
} from './tenant-control-plane.ts';

/** `T` with the keys `K` always set. */
type WithDefaults<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };

export type DefaultedDeploymentSpec = WithDefaults<
  Omit<DeploymentSpec, 'registrySettings'>,
  'replicas' | 'strategy' | 'serviceAccountName'
> & {
  registrySettings: WithDefaults<
    RegistrySettings,
    'registry' | 'apiServerImage' | 'controllerManagerImage' | 'schedulerImage'
  >;
};

type SchemaDefaultedNetworkProfile = WithDefaults<NetworkProfile, 'port' | 'clusterDomain' | 'serviceCidr' | 'podCidr'>;
export type DefaultedNetworkProfile = WithDefaults<
  SchemaDefaultedNetworkProfile,
  'serviceCidrs' | 'podCidrs' | 'dnsServiceIPs'
>;

export type DefaultedKubernetesSpec = WithDefaults<Omit<KubernetesSpec, 'kubelet'>, 'admissionControllers'> & {
  kubelet: WithDefaults<KubeletSpec, 'preferredAddressTypes'>;
};

type KonnectivityServer = NonNullable<KonnectivitySpec['server']>;
type KonnectivityAgent = NonNullable<KonnectivitySpec['agent']>;
export interface DefaultedKonnectivitySpec {
  server: WithDefaults<KonnectivityServer, 'image' | 'port'>;
  agent: WithDefaults<KonnectivityAgent, 'image' | 'mode' | 'hostNetwork' | 'tolerations'>;
}

export type DefaultedTenantControlPlaneSpec = Omit<
  TenantControlPlaneSpec,
  'controlPlane' | 'kubernetes' | 'networkProfile' | 'addons'
> & {
  controlPlane: Omit<ControlPlaneSpec, 'deployment'> & { deployment: DefaultedDeploymentSpec };
  kubernetes: DefaultedKubernetesSpec;
  networkProfile: DefaultedNetworkProfile;
  addons?: Omit<AddonsSpec, 'konnectivity'> & { konnectivity?: DefaultedKonnectivitySpec };
};

export interface DefaultingOptions {
  /** The manager's default DataStore, for a TenantControlPlane that names none. */
  defaultDataStore?: string;
}

export function applyTenantControlPlaneDefaults(
  spec: TenantControlPlaneSpec,
  options: DefaultingOptions = {},
): DefaultedTenantControlPlaneSpec {
  // The API server only defaults objects that are present; the operator needs the Deployment and network settings
  // of a manifest that leaves them out too.
  const present: TenantControlPlaneSpec = {
    ...spec,
    controlPlane: { ...spec.controlPlane, deployment: spec.controlPlane.deployment ?? {} },
    networkProfile: spec.networkProfile ?? {},
  };
  // The schema's defaults guarantee every key the type promises (defaults.test.ts checks each one).
  const defaulted = withDefaults(TenantControlPlaneSpecSchema, present) as Omit<
    DefaultedTenantControlPlaneSpec,
    'networkProfile'
  > & { networkProfile: SchemaDefaultedNetworkProfile };
  const network = defaulted.networkProfile;
  // The single-stack fields predate the lists; they fill them when the lists are not set.
  const serviceCidrs = network.serviceCidrs ?? (network.serviceCidr ? [network.serviceCidr] : []);
  const podCidrs = network.podCidrs ?? (network.podCidr ? [network.podCidr] : []);
  const dnsServiceIPs = network.dnsServiceIPs?.length ? network.dnsServiceIPs : serviceCidrs.map(dnsServiceIp);
  return {
    ...defaulted,
    ...(!defaulted.dataStore && options.defaultDataStore ? { dataStore: options.defaultDataStore } : {}),
    networkProfile: { ...network, serviceCidrs, podCidrs, dnsServiceIPs },
  };
}

/** The cluster DNS Service IP of a service CIDR: its 10th address for IPv4, `::10` past the network for IPv6. */
export function dnsServiceIp(serviceCidr: string): string {
  const cidr = parseCidr(serviceCidr);
  if (!cidr) throw new Error(`cannot derive a DNS Service IP: "${serviceCidr}" is not a CIDR`);
  return addressInCidr(serviceCidr, cidr.family === 4 ? 10 : 0x10);
}
