import type { KubernetesObject } from '@kubernetes/client-node';
import type { ResourceType } from '../../controller/kube-client.ts';

/** An object a builder wants in a tenant cluster, with where it lives in the API. */
export interface TenantObject {
  type: ResourceType;
  object: KubernetesObject;
}

/** `Kind namespace/name`, for messages. */
export function describeObject({ type, object }: TenantObject): string {
  const { namespace, name } = object.metadata ?? {};
  return `${type.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}
