import type { ResourceType } from '../../controller/kube-client.ts';
import { API_VERSION } from './group-version.ts';

/** Where the kinds live in the API, for the controller machinery's URLs. */
export const tenantControlPlaneResource = {
  apiVersion: API_VERSION,
  kind: 'TenantControlPlane',
  plural: 'tenantcontrolplanes',
  namespaced: true,
} as const satisfies ResourceType;

export const dataStoreResource = {
  apiVersion: API_VERSION,
  kind: 'DataStore',
  plural: 'datastores',
  namespaced: false,
} as const satisfies ResourceType;
