import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1CronJob,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
  V1Volume,
} from '@kubernetes/client-node';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { GROUP } from '../api/v1alpha1/group-version.ts';
import type { ResourceType } from '../controller/kube-client.ts';
import { objectNames } from '../tenant/names.ts';
import { addonResources } from '../tenant/steps/addons/common.ts';
import type { TenantObject } from '../tenant/steps/objects.ts';

/**
 * Scheduled backups inside the admin cluster, as pure builders: a CronJob running `kamaji backup` in the operator
 * image and writing to a volume, under a ServiceAccount that may read exactly what a backup reads (the TCP, its
 * DataStore, the DataStore's Secrets and the tenant's datastore Secret), nothing else.
 */

export interface BackupSchedule {
  tenant: { namespace: string; name: string };
  /** The DataStore the tenant's data is on: its Secrets are what the job must read. */
  dataStore: DataStore;
  /** Cron syntax, as CronJob takes it. */
  schedule: string;
  volume: { persistentVolumeClaim: string } | { hostPath: string };
  /** Backups of this tenant kept in the volume (older ones are deleted after each backup). */
  keep: number;
  /** The operator image (its entrypoint is `kamaji`). */
  image: string;
}

export const BACKUP_MOUNT = '/backups';
/** uid/gid of the operator image's user. */
const IMAGE_USER = 65532;
/** The longest CronJob name (its Jobs' names append 11 characters to it). */
const CRONJOB_NAME_MAX = 52;

export const backupScheduleResources = {
  serviceAccount: addonResources.serviceAccount,
  role: addonResources.role,
  roleBinding: addonResources.roleBinding,
  clusterRole: addonResources.clusterRole,
  clusterRoleBinding: addonResources.clusterRoleBinding,
  cronJob: { apiVersion: 'batch/v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true },
} as const satisfies Record<string, ResourceType>;

/** Typed objects into the list (a literal typed V1Role is not a KubernetesObject literal). */
function entry<T extends KubernetesObject>(type: ResourceType, object: T): TenantObject {
  return { type, object };
}

/** `kamaji-backup-<parts>`, shortened with a hash of the whole when over `max`. */
function scheduleName(parts: readonly string[], max: number): string {
  const full = ['kamaji-backup', ...parts].join('-');
  if (full.length <= max) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, max - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** The Secrets a DataStore names, by namespace. */
export function dataStoreSecrets(dataStore: DataStore): Map<string, string[]> {
  const { tlsConfig, basicAuth } = dataStore.spec;
  const references = [
    tlsConfig?.certificateAuthority.certificate,
    tlsConfig?.certificateAuthority.privateKey,
    tlsConfig?.clientCertificate?.certificate,
    tlsConfig?.clientCertificate?.privateKey,
    basicAuth?.username,
    basicAuth?.password,
  ];
  const byNamespace = new Map<string, string[]>();
  for (const reference of references) {
    const { name, namespace } = reference?.secretReference ?? {};
    if (!name || !namespace) continue;
    const names = byNamespace.get(namespace) ?? [];
    if (!names.includes(name)) byNamespace.set(namespace, [...names, name].sort());
  }
  return byNamespace;
}

export function backupScheduleObjects(input: BackupSchedule): TenantObject[] {
  const { namespace, name } = input.tenant;
  const dataStoreName = input.dataStore.metadata.name ?? '';
  const local = scheduleName([name], CRONJOB_NAME_MAX);
  const clusterWide = scheduleName([namespace, name], 253);
  const labels = { 'app.kubernetes.io/name': 'kamaji-backup', 'backup.kamaji.clastix.io/tenant': name };
  const serviceAccount = { kind: 'ServiceAccount', name: local, namespace };
  const rbac = 'rbac.authorization.k8s.io';
  const binding = (kind: 'Role' | 'ClusterRole', roleName: string) => ({
    roleRef: { apiGroup: rbac, kind, name: roleName },
    subjects: [serviceAccount],
  });
  const get = (apiGroup: string, resource: string, resourceNames: string[]): V1PolicyRule => ({
    apiGroups: [apiGroup],
    resources: [resource],
    resourceNames,
    verbs: ['get'],
  });

  const objects: TenantObject[] = [
    entry(backupScheduleResources.serviceAccount, {
      metadata: { name: local, namespace, labels },
    } satisfies V1ServiceAccount),
    entry(backupScheduleResources.role, {
      metadata: { name: local, namespace, labels },
      rules: [
        get(GROUP, 'tenantcontrolplanes', [name]),
        // The tenant's SQL password (DB_PASSWORD): a SQL key space is read as the tenant's own user.
        get('', 'secrets', [objectNames(name).datastoreConfigSecret]),
      ],
    } satisfies V1Role),
    entry(backupScheduleResources.roleBinding, {
      metadata: { name: local, namespace, labels },
      ...binding('Role', local),
    } satisfies V1RoleBinding),
    entry(backupScheduleResources.clusterRole, {
      metadata: { name: clusterWide, labels },
      rules: [get(GROUP, 'datastores', [dataStoreName])],
    } satisfies V1ClusterRole),
    entry(backupScheduleResources.clusterRoleBinding, {
      metadata: { name: clusterWide, labels },
      ...binding('ClusterRole', clusterWide),
    } satisfies V1ClusterRoleBinding),
  ];
  // The DataStore's own credentials, where they are (etcd: its CA and root client certificate).
  for (const [secretNamespace, secrets] of dataStoreSecrets(input.dataStore)) {
    const metadata = { name: clusterWide, namespace: secretNamespace, labels };
    objects.push(
      entry(backupScheduleResources.role, { metadata, rules: [get('', 'secrets', secrets)] } satisfies V1Role),
      entry(backupScheduleResources.roleBinding, { metadata, ...binding('Role', clusterWide) } satisfies V1RoleBinding),
    );
  }
  objects.push(entry(backupScheduleResources.cronJob, cronJob(input, local, labels)));
  return objects;
}

function cronJob(input: BackupSchedule, name: string, labels: Record<string, string>): V1CronJob {
  const { tenant } = input;
  const backups: V1Volume =
    'hostPath' in input.volume
      ? { name: 'backups', hostPath: { path: input.volume.hostPath, type: 'Directory' } }
      : { name: 'backups', persistentVolumeClaim: { claimName: input.volume.persistentVolumeClaim } };
  return {
    metadata: { name, namespace: tenant.namespace, labels },
    spec: {
      schedule: input.schedule,
      // A backup still running when the next is due is left to finish; the next one is skipped.
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 2,
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: name,
              restartPolicy: 'Never',
              securityContext: {
                runAsNonRoot: true,
                runAsUser: IMAGE_USER,
                runAsGroup: IMAGE_USER,
                fsGroup: IMAGE_USER,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: 'backup',
                  image: input.image,
                  args: [
                    'backup',
                    tenant.name,
                    `--namespace=${tenant.namespace}`,
                    `--output=${BACKUP_MOUNT}/`,
                    `--keep=${input.keep}`,
                  ],
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ['ALL'] },
                  },
                  volumeMounts: [
                    { name: 'backups', mountPath: BACKUP_MOUNT },
                    // The private kine of a SQL key space writes its throwaway certificates here.
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                },
              ],
              volumes: [backups, { name: 'tmp', emptyDir: {} }],
            },
          },
        },
      },
    },
  };
}
