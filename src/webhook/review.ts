/**
 * What the admission webhooks decide, as functions of the request and what the manager's caches hold. The checks
 * are the reconciler's own (validation.ts, the claim and datastore phases, the DataStore reconciler), so both
 * paths refuse the same things with the same words.
 */
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import {
  type FieldProblem,
  validateDataStoreSpec,
  validateTenantControlPlaneSpec,
} from '../api/v1alpha1/validation.ts';
import { resolveDataStore } from '../datastore/connections.ts';
import type { IdentityField } from '../datastore/driver.ts';
import { DataStoreConfigError, type SecretReader } from '../datastore/resolve.ts';
import { inUseMessage, tenantsUsing } from '../manager/datastore-reconciler.ts';
import { NO_DATASTORE_MESSAGE } from '../tenant/phases/claim.ts';
import { dataStoreNotFoundMessage, refusalMessage } from '../tenant/phases/datastore.ts';
import {
  type AdmissionRequest,
  type AdmissionResponse,
  allowed,
  type JsonPatchOperation,
  newProblems,
  refused,
} from './admission.ts';

export interface ReviewContext {
  /** The manager's --datastore, for TenantControlPlanes that name none. */
  defaultDataStore?: string;
  dataStore(name: string): DataStore | undefined;
  tenants(): readonly TenantControlPlane[];
  readSecret: SecretReader;
}

/**
 * Where a tenant's data is to be: what its spec names (a migration's target when it differs from where the claim
 * recorded the data), else that record, else the default.
 */
function dataStoreOf(tcp: TenantControlPlane, defaultDataStore: string | undefined): string | undefined {
  return tcp.spec.dataStore || tcp.status?.storage?.dataStoreName || defaultDataStore;
}

/** Whether a tenant's identity is (or is to be) on `dataStore`: where its data is, or where it is moving. */
function isOn(tcp: TenantControlPlane, dataStore: string, defaultDataStore: string | undefined): boolean {
  return tcp.status?.storage?.dataStoreName === dataStore || dataStoreOf(tcp, defaultDataStore) === dataStore;
}

/** The version a TCP runs, to check an upgrade path against: the installed one, else the one it asked for. */
function runningVersion(tcp: TenantControlPlane): string {
  return tcp.status?.kubernetesResources?.version?.version ?? tcp.spec.kubernetes.version;
}

/**
 * Everything wrong with a TenantControlPlane as it would be stored: its spec (versions and upgrade path from
 * `previous`, names, addresses) and its references (the DataStore exists; its schema and user are no other
 * tenant's there). A changed spec.dataStore is a migration: the new DataStore is checked the same way.
 */
export function tenantControlPlaneProblems(
  tcp: TenantControlPlane,
  previous: TenantControlPlane | undefined,
  context: ReviewContext,
): FieldProblem[] {
  const problems = validateTenantControlPlaneSpec(tcp.spec, {
    installedVersion: previous && runningVersion(previous),
  });
  const dataStore = dataStoreOf(tcp, context.defaultDataStore);
  if (!dataStore) return [...problems, { field: 'spec.dataStore', message: NO_DATASTORE_MESSAGE }];
  if (!context.dataStore(dataStore)) {
    return [...problems, { field: 'spec.dataStore', message: dataStoreNotFoundMessage(dataStore) }];
  }
  return [...problems, ...identityClaimedElsewhere(tcp, dataStore, context)];
}

/**
 * A dataStoreSchema or dataStoreUsername another tenant on the same DataStore already has. The datastore
 * driver makes the same check against its own owner records when it grants (racing creates end there).
 */
function identityClaimedElsewhere(tcp: TenantControlPlane, dataStore: string, context: ReviewContext): FieldProblem[] {
  const fields: { field: IdentityField; of: (other: TenantControlPlane) => string | undefined }[] = [
    {
      field: 'spec.dataStoreSchema',
      of: (other) => other.spec.dataStoreSchema || other.status?.storage?.setup?.schema,
    },
    {
      field: 'spec.dataStoreUsername',
      of: (other) => other.spec.dataStoreUsername || other.status?.storage?.setup?.user,
    },
  ];
  const self = { namespace: tcp.metadata.namespace, name: tcp.metadata.name };
  const neighbours = context
    .tenants()
    .filter((other) => other.metadata.namespace !== self.namespace || other.metadata.name !== self.name)
    .filter((other) => isOn(other, dataStore, context.defaultDataStore));
  return fields.flatMap(({ field, of }): FieldProblem[] => {
    const value = of(tcp);
    const holder = value ? neighbours.find((other) => of(other) === value) : undefined;
    if (!holder) return [];
    const owner = {
      uid: holder.metadata.uid ?? '',
      namespace: holder.metadata.namespace ?? '',
      name: holder.metadata.name ?? '',
    };
    return [{ field, message: refusalMessage({ reason: 'OwnedByAnotherTenant', field, owner }, dataStore) }];
  });
}

/** Validating webhook of TenantControlPlanes (CREATE and UPDATE). */
export function reviewTenantControlPlane(
  request: AdmissionRequest<TenantControlPlane>,
  context: ReviewContext,
): AdmissionResponse {
  const tcp = request.object;
  if (!tcp || tcp.metadata.deletionTimestamp) return allowed(request);
  let problems = tenantControlPlaneProblems(tcp, request.oldObject, context);
  if (request.operation === 'UPDATE' && request.oldObject) {
    const old = request.oldObject;
    // The old object judged as it was admitted: against its own previous version, i.e. the one it runs.
    problems = newProblems(tenantControlPlaneProblems(old, old, context), problems);
  }
  return problems.length > 0 ? refused(request, problems) : allowed(request);
}

/**
 * Defaulting webhook of TenantControlPlanes: only what is safe before the object has a UID. The claim phase
 * derives the schema and user from the UID and records all three.
 */
export function defaultTenantControlPlane(
  request: AdmissionRequest<TenantControlPlane>,
  context: Pick<ReviewContext, 'defaultDataStore'>,
): AdmissionResponse {
  const patch: JsonPatchOperation[] = [];
  const tcp = request.object;
  if (request.operation === 'CREATE' && tcp && !tcp.spec.dataStore && context.defaultDataStore) {
    patch.push({ op: 'add', path: '/spec/dataStore', value: context.defaultDataStore });
  }
  return allowed(request, patch);
}

/** What the DataStore reconciler and a tenant's datastore phase would refuse: endpoints, driver, TLS references. */
export async function dataStoreProblems(dataStore: DataStore, readSecret: SecretReader): Promise<FieldProblem[]> {
  const problems = validateDataStoreSpec(dataStore.spec);
  try {
    await resolveDataStore(dataStore.metadata.name ?? '', dataStore.spec, readSecret);
  } catch (error) {
    if (!(error instanceof DataStoreConfigError)) throw error;
    problems.push({ field: error.field, message: error.problem });
  }
  return problems;
}

/** Validating webhook of DataStores (CREATE, UPDATE, DELETE). */
export async function reviewDataStore(
  request: AdmissionRequest<DataStore>,
  context: ReviewContext,
): Promise<AdmissionResponse> {
  if (request.operation === 'DELETE') {
    const usedBy = tenantsUsing(context.tenants(), request.name ?? '');
    if (usedBy.length === 0) return allowed(request);
    const problem = { field: 'metadata.name', message: `DataStore ${request.name} ${inUseMessage(usedBy)}` };
    return refused(request, [problem], { code: 403, reason: 'Forbidden' });
  }
  const dataStore = request.object;
  if (!dataStore || dataStore.metadata.deletionTimestamp) return allowed(request);
  let problems = await dataStoreProblems(dataStore, context.readSecret);
  if (request.operation === 'UPDATE' && request.oldObject) {
    problems = newProblems(await dataStoreProblems(request.oldObject, context.readSecret), problems);
  }
  return problems.length > 0 ? refused(request, problems) : allowed(request);
}
