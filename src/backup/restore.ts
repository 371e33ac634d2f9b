import { dataStoreResource, tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { type ApiCaller, mergePatch, readObject } from '../controller/apply.ts';
import { resourcePath } from '../controller/kube-client.ts';
import { type KeyspaceOptions, openTenantKeyspace } from '../datastore/keyspace/keyspace.ts';
import { waitFor } from '../util/wait.ts';
import type { Backup } from './format.ts';
import {
  RESTORE_REPLICAS_ANNOTATION,
  type RestoreTarget,
  restorableEntries,
  restoredTenantControlPlane,
  restoreStart,
} from './restore-plan.ts';
import { locateTenantStorage, readTenantControlPlane } from './tenant-storage.ts';

export interface RestoreOptions {
  keyspace?: KeyspaceOptions;
  /** Progress, one line each. */
  report?: (line: string) => void;
  /** For each wait: the tenant asleep with its datastore claimed, then Ready. */
  timeoutMs?: number;
  /** Wait for the woken tenant to be Ready (default true; a cluster without nodes never runs its pods). */
  waitReady?: boolean;
}

export interface RestoreResult {
  /** Keys written into the new tenant's key space. */
  written: number;
  /** Keys of the backup left out, by what they are (restore-plan.ts says why). */
  leftOut: Map<string, number>;
  tcp: TenantControlPlane;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/**
 * A new tenant from a backup, on any DataStore:
 * 1. the TCP is created from the backup's spec with zero replicas (no API server touches its key space yet);
 * 2. once the operator has claimed its schema and user and written its Secrets (the TCP is `Sleeping`), the backup's
 *    keys become exactly its key space (under its own schema), through the keyspace module;
 * 3. the TCP gets its replicas back: its API servers start on the restored keys, and once it is Ready the operator
 *    applies what is the new tenant's own over the restored copies (cluster-info with its CA and endpoint,
 *    kubeadm-config, the addons), so workers join it as any other.
 * Run again after a crash, it resumes a restore of the same backup into the same TCP.
 */
export async function restoreTenant(
  client: ApiCaller,
  backup: Backup,
  target: RestoreTarget,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const report = options.report ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { namespace, name } = target;
  const where = `TenantControlPlane ${namespace}/${name}`;
  const start = restoreStart(await readTenantControlPlane(client, namespace, name), backup.header);
  if (start.action === 'refuse') throw new Error(start.message);
  let replicas: number;
  if (start.action === 'create') {
    const manifest = restoredTenantControlPlane(backup.header, target);
    const dataStore = manifest.spec.dataStore ?? '';
    if (!(await readObject(client, dataStoreResource, { name: dataStore }))) {
      throw new Error(
        `DataStore ${dataStore} does not exist: pass --datastore with one that does ("kubectl get datastores" lists them)`,
      );
    }
    await client.request('POST', resourcePath(tenantControlPlaneResource, { namespace }), { body: manifest });
    replicas = Number(manifest.metadata.annotations?.[RESTORE_REPLICAS_ANNOTATION]);
    report(`created ${where} on DataStore ${manifest.spec.dataStore}, asleep until its keys are written`);
  } else {
    replicas = start.replicas;
    report(`resuming the restore into ${where}`);
  }

  const location = await waitFor(
    async () => {
      const tcp = await readTenantControlPlane(client, namespace, name);
      const version = tcp?.status?.kubernetesResources?.version?.status;
      if (version !== 'Sleeping') throw new Error(`${where} is ${version ?? 'not reconciled yet'}: ${blocking(tcp)}`);
      return locateTenantStorage(client, namespace, name);
    },
    { timeoutMs, intervalMs: 500, description: `${where} to have its datastore claimed (status Sleeping)` },
  );

  const { kept, leftOut } = restorableEntries(backup.entries);
  const keyspace = await openTenantKeyspace(location.resolved, location.storage, options.keyspace);
  try {
    await keyspace.replace(kept);
    const count = await keyspace.count();
    if (count !== kept.length) {
      throw new Error(`${where}: ${count} keys in its key space after writing ${kept.length}: run the restore again`);
    }
  } finally {
    await keyspace.close();
  }
  report(
    `wrote ${kept.length} keys into schema ${location.storage.schema} on DataStore ${location.dataStore.metadata.name}` +
      (leftOut.size > 0 ? ` (left out: ${[...leftOut].map(([what, n]) => `${n} ${what}`).join(', ')})` : ''),
  );

  const woken = await mergePatch<TenantControlPlane>(
    client,
    tenantControlPlaneResource,
    { namespace, name },
    {
      metadata: { annotations: { [RESTORE_REPLICAS_ANNOTATION]: null } },
      spec: { controlPlane: { deployment: { replicas } } },
    },
  );
  if (replicas === 0 || options.waitReady === false) {
    report(`${where} has its ${replicas} replicas back`);
    return { written: kept.length, leftOut, tcp: woken };
  }
  report(`${where} woken with ${replicas} replicas; waiting for it to be Ready`);
  const tcp = await waitFor(
    async () => {
      const current = await readTenantControlPlane(client, namespace, name);
      if (ready(current)) return current;
      throw new Error(blocking(current));
    },
    { timeoutMs, intervalMs: 1_000, description: `${where} to be Ready on its restored keys` },
  );
  return { written: kept.length, leftOut, tcp };
}

/** Ready as of its current spec (the condition observed the woken generation), not as it was asleep. */
function ready(tcp: TenantControlPlane | undefined): tcp is TenantControlPlane {
  const condition = tcp?.status?.conditions?.find((candidate) => candidate.type === 'Ready');
  return (
    condition?.status === 'True' &&
    (condition.observedGeneration ?? 0) >= (tcp?.metadata.generation ?? 1) &&
    tcp?.status?.kubernetesResources?.version?.status === 'Ready'
  );
}

/** The TCP's Ready condition as text: why it is not Ready. */
function blocking(tcp: TenantControlPlane | undefined): string {
  const condition = tcp?.status?.conditions?.find((candidate) => candidate.type === 'Ready');
  return condition ? `Ready ${condition.status} (${condition.reason}): ${condition.message}` : 'no Ready condition yet';
}
