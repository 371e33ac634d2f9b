import { createHash } from 'node:crypto';
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import { hasStatus, type KubeClient, type ObjectLocation, type ResourceType, resourcePath } from './kube-client.ts';

export const FIELD_MANAGER = 'kamaji';
/** Written on every object kamaji applies with `applyIfChanged`: the checksum of what was applied. */
export const CHECKSUM_ANNOTATION = 'kamaji.clastix.io/checksum';

/** The one call these helpers make; a narrow type so tests can stand in for the API server. */
export type ApiCaller = Pick<KubeClient, 'request'>;

/**
 * Server-side apply with force: creates the object, or sets exactly the fields in `desired` that kamaji manages,
 * taking them over from any other manager. Fields kamaji applied before and no longer sends are removed.
 */
export function serverSideApply<T extends KubernetesObject>(
  client: ApiCaller,
  type: ResourceType,
  desired: T,
  fieldManager = FIELD_MANAGER,
): Promise<T> {
  return apply<T>(client, type, desired, fieldManager);
}

/**
 * Server-side apply that asks for only the written object's metadata back: for Secrets, whose data the caller
 * already has, this keeps kilobytes of base64 off the wire and out of the JSON parser.
 */
export function serverSideApplyMetadata(
  client: ApiCaller,
  type: ResourceType,
  desired: KubernetesObject,
): Promise<KubernetesObject> {
  return apply(client, type, desired, FIELD_MANAGER, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
}

async function apply<T>(
  client: ApiCaller,
  type: ResourceType,
  desired: KubernetesObject,
  fieldManager: string,
  accept?: string,
): Promise<T> {
  const { namespace, name } = desired.metadata ?? {};
  if (!name) throw new Error(`cannot apply a ${type.kind} without metadata.name`);
  return client.request<T>('PATCH', resourcePath(type, { namespace, name }), {
    query: { fieldManager, force: true },
    body: { apiVersion: type.apiVersion, kind: type.kind, ...desired },
    contentType: 'application/apply-patch+yaml',
    accept,
  });
}

/** SHA-256 of the value's JSON with object keys sorted, so equal content always gives the same checksum. */
export function checksum(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** JSON with every object's keys in sorted order; native JSON.stringify does the rest (undefined dropped). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(item).sort()) sorted[key] = (item as Record<string, unknown>)[key];
    return sorted;
  });
}

/** A copy of `desired` carrying its own checksum (computed without the annotation) in CHECKSUM_ANNOTATION. */
export function withChecksum<T extends KubernetesObject>(desired: T): T {
  const { [CHECKSUM_ANNOTATION]: _previous, ...annotations } = desired.metadata?.annotations ?? {};
  const unmarked = { ...desired, metadata: { ...desired.metadata, annotations } };
  return {
    ...unmarked,
    metadata: { ...unmarked.metadata, annotations: { ...annotations, [CHECKSUM_ANNOTATION]: checksum(unmarked) } },
  };
}

export type ApplyResult<T> = { applied: false } | { applied: true; object: T };

/**
 * Applies `desired` unless the live object (from an informer cache, metadata is enough) already carries its
 * checksum: an unchanged object costs no API call. Changes made by others to fields kamaji owns are therefore
 * only corrected once the desired state itself changes, as in the Go Kamaji.
 */
export async function applyIfChanged<T extends KubernetesObject>(
  client: ApiCaller,
  type: ResourceType,
  desired: T,
  live: KubernetesObject | undefined,
): Promise<ApplyResult<T>> {
  const marked = withChecksum(desired);
  const wanted = marked.metadata?.annotations?.[CHECKSUM_ANNOTATION];
  if (live && live.metadata?.annotations?.[CHECKSUM_ANNOTATION] === wanted) return { applied: false };
  return { applied: true, object: await serverSideApply(client, type, marked) };
}

/** The owner reference that makes `owner` the controller of another object (garbage-collected with it). */
export function controllerReference(owner: KubernetesObject): V1OwnerReference {
  const { name, uid } = owner.metadata ?? {};
  if (!owner.apiVersion || !owner.kind || !name || !uid) {
    throw new Error('a controller reference needs the owner apiVersion, kind, metadata.name and metadata.uid');
  }
  return { apiVersion: owner.apiVersion, kind: owner.kind, name, uid, controller: true, blockOwnerDeletion: true };
}

export interface StatusTarget {
  namespace?: string;
  name: string;
  /** When set, the write fails with 409 if the object changed since this version was read. */
  resourceVersion?: string;
}

/** Merge-patches the status subresource: only the given status fields change (null removes one). */
export function patchStatus<T extends KubernetesObject>(
  client: ApiCaller,
  type: ResourceType,
  target: StatusTarget,
  status: Record<string, unknown>,
): Promise<T> {
  const { namespace, name, resourceVersion } = target;
  const body = resourceVersion ? { metadata: { resourceVersion }, status } : { status };
  return mergePatch<T>(client, type, { namespace, name, subresource: 'status' }, body);
}

/** A JSON merge patch (RFC 7386): the given fields change, null removes one, lists are replaced whole. */
export function mergePatch<T>(
  client: ApiCaller,
  type: ResourceType,
  location: ObjectLocation,
  patch: unknown,
): Promise<T> {
  return client.request<T>('PATCH', resourcePath(type, location), {
    body: patch,
    contentType: 'application/merge-patch+json',
  });
}

/** The object, or undefined when it does not exist. */
export async function readObject<T>(
  client: ApiCaller,
  type: ResourceType,
  location: ObjectLocation,
): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', resourcePath(type, location));
  } catch (error) {
    if (hasStatus(error, 404)) return undefined;
    throw error;
  }
}
