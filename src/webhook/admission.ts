/**
 * The AdmissionReview (admission.k8s.io/v1) the API server sends to webhooks, and the answers to it. Responses
 * follow controller-runtime: a refusal carries a 422 Invalid status whose message names each field at fault.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { describeProblems, type FieldProblem } from '../api/v1alpha1/validation.ts';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest<T extends KubernetesObject = KubernetesObject> {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: Operation;
  name?: string;
  namespace?: string;
  /** The object as it would be stored (absent at DELETE). */
  object?: T;
  /** The object as stored now (UPDATE and DELETE). */
  oldObject?: T;
  dryRun?: boolean;
}

export interface AdmissionStatus {
  code: number;
  reason: string;
  message: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason: string; field: string; message: string }[];
  };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch (RFC 6902) text. */
  patch?: string;
}

export interface AdmissionReview<T extends KubernetesObject = KubernetesObject> {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest<T>;
  response?: AdmissionResponse;
}

/** One operation of a JSON Patch; the defaulting webhook only adds fields. */
export interface JsonPatchOperation {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

export function allowed(request: AdmissionRequest, patch: readonly JsonPatchOperation[] = []): AdmissionResponse {
  if (patch.length === 0) return { uid: request.uid, allowed: true };
  return {
    uid: request.uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
  };
}

/**
 * A refusal as apierrors.NewInvalid makes it (a DELETE refused is 403 Forbidden instead): the API server shows `status.message` to the client after
 * `admission webhook "<name>" denied the request: `.
 */
export function refused(
  request: AdmissionRequest,
  problems: readonly FieldProblem[],
  status: { code: number; reason: string } = { code: 422, reason: 'Invalid' },
): AdmissionResponse {
  const { group, kind } = request.kind;
  return {
    uid: request.uid,
    allowed: false,
    status: {
      ...status,
      message: describeProblems(problems),
      details: {
        name: request.name,
        group,
        kind,
        causes: problems.map(({ field, message }) => ({ reason: 'FieldValueInvalid', field, message })),
      },
    },
  };
}

/**
 * What an UPDATE adds to what was wrong before. An object stored while the webhook was down, or before a rule
 * existed, stays writable (the operator's own claim and finalizer writes, a user fixing one problem at a time):
 * only a change that makes it worse is refused. The reconciler reports all of them in any case.
 */
export function newProblems(before: readonly FieldProblem[], after: readonly FieldProblem[]): FieldProblem[] {
  const known = new Set(before.map((problem) => `${problem.field}: ${problem.message}`));
  return after.filter((problem) => !known.has(`${problem.field}: ${problem.message}`));
}
