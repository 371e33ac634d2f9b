import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1CronJob, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { describeObject } from '../tenant/steps/objects.ts';
import { BACKUP_MOUNT, backupScheduleObjects, dataStoreSecrets } from './schedule.ts';

const reference = (namespace: string, name: string, keyPath: string) => ({
  secretReference: { namespace, name, keyPath },
});

const etcd: DataStore = {
  apiVersion: 'kamaji.clastix.io/v1alpha1',
  kind: 'DataStore',
  metadata: { name: 'default' },
  spec: {
    driver: 'etcd',
    endpoints: ['10.0.0.1:2379'],
    tlsConfig: {
      certificateAuthority: {
        certificate: reference('kamaji-system', 'default-datastore', 'ca.crt'),
        privateKey: reference('kamaji-system', 'default-datastore', 'ca.key'),
      },
      clientCertificate: {
        certificate: reference('kamaji-system', 'default-datastore', 'tls.crt'),
        privateKey: reference('kamaji-system', 'other', 'tls.key'),
      },
    },
  },
};

const input = {
  tenant: { namespace: 'team-a', name: 'demo' },
  dataStore: etcd,
  schedule: '0 3 * * *',
  volume: { persistentVolumeClaim: 'backups' },
  keep: 5,
  image: 'docker.io/kamaji/kamaji-ts:v0.1.0',
};

test("a DataStore's Secrets, by namespace, each once; inline content needs none", () => {
  assert.deepEqual(Object.fromEntries(dataStoreSecrets(etcd)), { 'kamaji-system': ['default-datastore', 'other'] });
  const inline: DataStore = {
    ...etcd,
    spec: {
      driver: 'PostgreSQL',
      endpoints: ['db:5432'],
      basicAuth: { username: { content: 'YQ==' }, password: { content: 'Yg==' } },
    },
  };
  assert.deepEqual(Object.fromEntries(dataStoreSecrets(inline)), {});
});

test('the objects: a ServiceAccount allowed to get exactly the TCP, its DataStore and their Secrets, and the CronJob', () => {
  const objects = backupScheduleObjects(input);
  assert.deepEqual(objects.map(describeObject), [
    'ServiceAccount team-a/kamaji-backup-demo',
    'Role team-a/kamaji-backup-demo',
    'RoleBinding team-a/kamaji-backup-demo',
    'ClusterRole kamaji-backup-team-a-demo',
    'ClusterRoleBinding kamaji-backup-team-a-demo',
    'Role kamaji-system/kamaji-backup-team-a-demo',
    'RoleBinding kamaji-system/kamaji-backup-team-a-demo',
    'CronJob team-a/kamaji-backup-demo',
  ]);
  const rules = objects.flatMap(({ object }) => (object as V1Role).rules ?? []);
  assert.deepEqual(rules, [
    { apiGroups: ['kamaji.clastix.io'], resources: ['tenantcontrolplanes'], resourceNames: ['demo'], verbs: ['get'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['demo-datastore-config'], verbs: ['get'] },
    { apiGroups: ['kamaji.clastix.io'], resources: ['datastores'], resourceNames: ['default'], verbs: ['get'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['default-datastore', 'other'], verbs: ['get'] },
  ]);
  for (const { object } of objects) {
    const subjects = (object as V1RoleBinding).subjects;
    if (subjects)
      assert.deepEqual(subjects, [{ kind: 'ServiceAccount', name: 'kamaji-backup-demo', namespace: 'team-a' }]);
  }
});

test('the CronJob runs kamaji backup into the volume, one at a time, as the image user with a read-only root', () => {
  const cronJob = backupScheduleObjects(input).at(-1)?.object as V1CronJob;
  assert.equal(cronJob.spec?.schedule, '0 3 * * *');
  assert.equal(cronJob.spec?.concurrencyPolicy, 'Forbid');
  const pod = cronJob.spec?.jobTemplate.spec?.template.spec;
  assert.equal(pod?.serviceAccountName, 'kamaji-backup-demo');
  const [container] = pod?.containers ?? [];
  assert.deepEqual(container?.args, ['backup', 'demo', '--namespace=team-a', `--output=${BACKUP_MOUNT}/`, '--keep=5']);
  assert.equal(container?.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(pod?.securityContext?.runAsNonRoot, true);
  assert.deepEqual(pod?.volumes?.[0], { name: 'backups', persistentVolumeClaim: { claimName: 'backups' } });
  const hostPath = backupScheduleObjects({ ...input, volume: { hostPath: '/srv/backups' } }).at(-1)
    ?.object as V1CronJob;
  assert.deepEqual(hostPath.spec?.jobTemplate.spec?.template.spec?.volumes?.[0], {
    name: 'backups',
    hostPath: { path: '/srv/backups', type: 'Directory' },
  });
});

test('long names are shortened to what a CronJob allows, distinct per tenant', () => {
  const long = 'a'.repeat(60);
  const names = [long, `${long}b`].map((name) => {
    const cronJob = backupScheduleObjects({ ...input, tenant: { namespace: 'team-a', name } }).at(-1)?.object;
    return cronJob?.metadata?.name ?? '';
  });
  for (const name of names) assert.ok(name.length <= 52 && name.startsWith('kamaji-backup-aaa'), name);
  assert.notEqual(names[0], names[1]);
});
