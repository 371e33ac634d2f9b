/**
 * Backup and restore as a user meets them on `kamaji up`: the demo tenant (etcd) with 1,000 ConfigMaps and a
 * workload backed up, restored into a new tenant on a PostgreSQL DataStore (`kamaji datastore add`), the same
 * objects there, a worker joining it and the restored workload running on that worker. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { readBackupFile } from '../../src/backup/file.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { HTTP_ECHO_IMAGE, HTTP_ECHO_PORT } from '../../src/cluster/image-references.ts';
import { DEMO_TENANT, hostKubeconfigPath } from '../../src/cluster/up.ts';
import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { builtinResources, KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { waitFor } from '../../src/util/wait.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const OBJECTS = 1_000;
const RESTORED = { name: 'restored', nodePort: 31447, konnectivityPort: 31147 } as const;
const LABEL = 'backup-e2e=object';

/** The ConfigMap number `index`: its data says which, so a restored copy is checked for content, not only names. */
function configMap(index: number): V1ConfigMap {
  const name = `object-${String(index).padStart(4, '0')}`;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default', labels: { 'backup-e2e': 'object' } },
    data: { index: String(index), payload: `${name}:${'x'.repeat(200)}` },
  };
}

/** Runs `work` on every item, `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

describe('backup of a tenant on etcd, restored on PostgreSQL, and a worker joining it', { skip: NEEDS_ROOT }, () => {
  const instance = useKamajiInstance('bak');
  const stateDir = () => `--state-dir=${instance().layout.root}`;
  const kubeconfigOf = (tenant: string) => join(instance().workDir, `${tenant}.kubeconfig`);

  async function kubectl(tenant: string, ...args: string[]): Promise<string> {
    return (await runCommand(instance().kubectlPath, [`--kubeconfig=${kubeconfigOf(tenant)}`, ...args])).stdout;
  }
  async function saveKubeconfig(tenant: string): Promise<KubeClient> {
    const printedConfig = await kamaji('kubeconfig', tenant, stateDir());
    assert.equal(printedConfig.code, 0, printed(printedConfig));
    await writeFile(kubeconfigOf(tenant), printedConfig.stdout, { mode: 0o600 });
    return new KubeClient(accessFromKubeconfig(printedConfig.stdout, instance().workDir));
  }
  async function labelledConfigMaps(tenant: string): Promise<V1ConfigMap[]> {
    return (
      JSON.parse(await kubectl(tenant, 'get', 'configmaps', '-n', 'default', '-l', LABEL, '-o', 'json')) as {
        items: V1ConfigMap[];
      }
    ).items;
  }

  test('1,000 objects backed up from etcd, restored into a new tenant on PostgreSQL; a worker joins it and the workload runs', {
    timeout: 1_500_000,
  }, async (t) => {
    const up = await kamaji('up', stateDir(), '--workers=1');
    assert.equal(up.code, 0, `kamaji up failed:\n${printed(up)}`);
    const demo = await saveKubeconfig(DEMO_TENANT.name);
    try {
      await eachLimited(
        Array.from({ length: OBJECTS }, (_, index) => index),
        16,
        (index) =>
          demo.request('POST', resourcePath(builtinResources.configMap, { namespace: 'default' }), {
            body: configMap(index),
          }),
      );
    } finally {
      demo.close();
    }
    await kubectl(
      DEMO_TENANT.name,
      'create',
      'deployment',
      'echo',
      `--image=${HTTP_ECHO_IMAGE}`,
      `--port=${HTTP_ECHO_PORT}`,
    );
    await kubectl(DEMO_TENANT.name, 'rollout', 'status', 'deployment/echo', '--timeout=180s');

    const file = join(instance().workDir, 'demo.kamaji-backup');
    let started = performance.now();
    const backup = await kamaji('backup', DEMO_TENANT.name, '-o', file, stateDir());
    const backupSeconds = (performance.now() - started) / 1000;
    assert.equal(backup.code, 0, printed(backup));
    const { header } = await readBackupFile(file);
    assert.deepEqual(header.dataStore, { name: 'default', driver: 'etcd' });
    assert.ok(header.objectCount > OBJECTS, `${header.objectCount} keys`);
    // Written after the backup: not in the restored tenant.
    await kubectl(DEMO_TENANT.name, 'create', 'configmap', 'after-backup', '-n', 'default');

    const added = await kamaji('datastore', 'add', 'postgresql', '--name', 'pg', stateDir());
    assert.equal(added.code, 0, printed(added));

    started = performance.now();
    const restore = await kamaji(
      'restore',
      file,
      '--into',
      RESTORED.name,
      '--datastore',
      'pg',
      `--port=${RESTORED.nodePort}`,
      `--konnectivity-port=${RESTORED.konnectivityPort}`,
      stateDir(),
    );
    const restoreSeconds = (performance.now() - started) / 1000;
    assert.equal(restore.code, 0, printed(restore));
    t.diagnostic(
      `${header.objectCount} keys: backup ${backupSeconds.toFixed(1)} s, restore to Ready ${restoreSeconds.toFixed(1)} s`,
    );

    (await saveKubeconfig(RESTORED.name)).close();
    const restored = await labelledConfigMaps(RESTORED.name);
    assert.equal(restored.length, OBJECTS);
    for (const object of restored) {
      const index = Number(object.data?.index);
      assert.deepEqual(object.data, configMap(index).data, `${object.metadata?.name} has its content`);
    }
    assert.equal(new Set(restored.map((object) => object.metadata?.name)).size, OBJECTS, 'each exactly once');
    const after = await runCommand(
      instance().kubectlPath,
      [`--kubeconfig=${kubeconfigOf(RESTORED.name)}`, 'get', 'configmap', 'after-backup', '-n', 'default'],
      { allowFailure: true },
    );
    assert.match(after.stderr, /NotFound/, 'a ConfigMap created after the backup is not restored');
    assert.equal((await kubectl(RESTORED.name, 'get', 'nodes', '-o', 'name')).trim(), '', "the source's Node left out");

    const worker = await kamaji('worker', 'add', RESTORED.name, stateDir());
    assert.equal(worker.code, 0, printed(worker));
    const pod = await waitFor(
      async () => {
        const pods = (
          JSON.parse(await kubectl(RESTORED.name, 'get', 'pods', '-l', 'app=echo', '-o', 'json')) as {
            items: V1Pod[];
          }
        ).items;
        const running = pods.find(
          (candidate) =>
            candidate.spec?.nodeName === `${RESTORED.name}-worker-1` && candidate.status?.phase === 'Running',
        );
        if (running) return running;
        throw new Error(pods.map((p) => `${p.metadata?.name} on ${p.spec?.nodeName}: ${p.status?.phase}`).join('; '));
      },
      {
        timeoutMs: 300_000,
        intervalMs: 2_000,
        description: "the restored echo Deployment's pod running on the new worker",
      },
    );
    // Through the restored tenant's API server and konnectivity to the pod on the new worker: it answers its name.
    const answer = await waitFor(
      async () =>
        (
          await kubectl(
            RESTORED.name,
            'get',
            '--raw',
            `/api/v1/namespaces/default/pods/${pod.metadata?.name}:${HTTP_ECHO_PORT}/proxy/`,
          )
        ).trim() || undefined,
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'the pod to answer through the pod proxy' },
    );
    assert.equal(answer, pod.metadata?.name);
  });

  test('a scheduled backup runs in the admin cluster under its own ServiceAccount and writes into its volume', {
    timeout: 600_000,
  }, async () => {
    const directory = await mkdtemp('/tmp/bak-scheduled-');
    try {
      await chown(directory, 65532, 65532);
      const schedule = await kamaji(
        'backup',
        'schedule',
        DEMO_TENANT.name,
        '--schedule=0 3 * * *',
        `--host-path=${directory}`,
        '--keep=2',
        '--apply',
        stateDir(),
      );
      assert.equal(schedule.code, 0, printed(schedule));
      const admin = (...args: string[]) =>
        runCommand(instance().kubectlPath, [`--kubeconfig=${hostKubeconfigPath(instance().layout)}`, ...args]);
      await admin('create', 'job', '--from=cronjob/kamaji-backup-demo', 'kamaji-backup-now', '-n', 'default');
      const waited = await runCommand(
        instance().kubectlPath,
        [
          `--kubeconfig=${hostKubeconfigPath(instance().layout)}`,
          'wait',
          '--for=condition=complete',
          'job/kamaji-backup-now',
          '-n',
          'default',
          '--timeout=300s',
        ],
        { allowFailure: true },
      );
      const logs = (await admin('logs', 'job/kamaji-backup-now', '-n', 'default')).stdout;
      assert.equal(waited.code, 0, `the backup Job did not complete: ${waited.stderr}\n${logs}`);
      assert.match(logs, /\d+ keys of default\/demo at revision \d+ of DataStore default \(etcd\)/);
      const files = await readdir(directory);
      assert.equal(files.length, 1, files.join(', '));
      const { header } = await readBackupFile(join(directory, files[0] ?? ''));
      assert.deepEqual(header.tenant.name, DEMO_TENANT.name);
      assert.ok(header.objectCount > OBJECTS);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
