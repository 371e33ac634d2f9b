import type { KubernetesObject } from '@kubernetes/client-node';
import { checksum } from '../../../controller/apply.ts';
import { builtinResources, type ResourceType } from '../../../controller/kube-client.ts';
import { rbacResources } from '../kubeadm.ts';
import type { TenantObject } from '../objects.ts';

/**
 * What the addon builders share: the label that marks what Kamaji created in a tenant for an addon (the only
 * objects removing the addon deletes), the resource types, and the checksum the addons phase records.
 */

/** On every object an addon puts in a tenant: `kamaji.clastix.io/addon=<addon>`. */
export const LABEL_ADDON = 'kamaji.clastix.io/addon';

/** The addons, as their label value; each is enabled by `spec.addons.<key>` being present. */
export const ADDONS = {
  coreDNS: 'coredns',
  kubeProxy: 'kube-proxy',
  konnectivity: 'konnectivity-agent',
} as const;
export type AddonKey = keyof typeof ADDONS;

/** Bumped when the objects built for the same spec change, so that every tenant gets them re-applied. */
export const ADDON_OBJECTS_REVISION = 1;

export const addonResources = {
  serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  configMap: builtinResources.configMap,
  service: builtinResources.service,
  deployment: builtinResources.deployment,
  daemonSet: { apiVersion: 'apps/v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true },
  ...rbacResources,
} as const satisfies Record<string, ResourceType>;

export const KUBE_SYSTEM = 'kube-system';

/** Each object of `objects` labelled as the addon's (its own labels kept). */
export function labelled(addon: AddonKey, objects: readonly TenantObject[]): TenantObject[] {
  return objects.map(({ type, object }) => ({
    type,
    object: {
      ...object,
      metadata: { ...object.metadata, labels: { ...object.metadata?.labels, [LABEL_ADDON]: ADDONS[addon] } },
    },
  }));
}

/** The checksum recorded for an addon's objects: equal means nothing to apply. */
export function addonChecksum(objects: readonly TenantObject[]): string {
  return checksum([ADDON_OBJECTS_REVISION, objects.map(({ object }) => object)]);
}

/** `{type, object}` with apiVersion and kind filled from the type. */
export function tenantObject(type: ResourceType, object: Omit<KubernetesObject, 'apiVersion' | 'kind'>): TenantObject {
  return { type, object: { apiVersion: type.apiVersion, kind: type.kind, ...object } };
}

/** The Kubernetes minor of `vX.Y.Z`. */
export function kubernetesMinor(version: string): number {
  return Number(/^v?1\.(\d+)\./.exec(version)?.[1] ?? 0);
}

const rbacGroup = 'rbac.authorization.k8s.io';

export function serviceAccount(name: string): TenantObject {
  return tenantObject(addonResources.serviceAccount, { metadata: { name, namespace: KUBE_SYSTEM } });
}

export function clusterRoleBinding(name: string, clusterRole: string, subjects: object[]): TenantObject {
  return tenantObject(addonResources.clusterRoleBinding, {
    metadata: { name },
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: clusterRole },
    subjects,
  } as KubernetesObject);
}

export const serviceAccountSubject = (name: string) => ({ kind: 'ServiceAccount', name, namespace: KUBE_SYSTEM });
export const groupSubject = (name: string) => ({ apiGroup: rbacGroup, kind: 'Group', name });
export const userSubject = (name: string) => ({ apiGroup: rbacGroup, kind: 'User', name });

/**
 * Every kind of object each addon may create (the konnectivity agent is a DaemonSet or a Deployment): what is
 * listed, by the addon's label, to find what it no longer wants. Namespaced kinds are looked for in kube-system only.
 */
export const ADDON_TYPES: Readonly<Record<AddonKey, readonly ResourceType[]>> = {
  coreDNS: [
    addonResources.serviceAccount,
    addonResources.clusterRole,
    addonResources.clusterRoleBinding,
    addonResources.configMap,
    addonResources.deployment,
    addonResources.service,
  ],
  kubeProxy: [
    addonResources.serviceAccount,
    addonResources.clusterRoleBinding,
    addonResources.role,
    addonResources.roleBinding,
    addonResources.configMap,
    addonResources.daemonSet,
  ],
  konnectivity: [
    addonResources.serviceAccount,
    addonResources.clusterRoleBinding,
    addonResources.daemonSet,
    addonResources.deployment,
  ],
};
