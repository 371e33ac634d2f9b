/**
 * Live migration between DataStores on a real `kamaji up`, under load: the demo tenant (one worker) moved etcd →
 * etcd → PostgreSQL → PostgreSQL → MySQL (MariaDB) → etcd while a client creates ConfigMaps in it, then twice more
 * with the leading manager SIGKILLed mid-move. Each move: writes refused with
 * the migration named during the freeze, every acknowledged ConfigMap there exactly once afterwards, the worker
 * still Ready, and nothing of the tenant left on the DataStore it left. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1Node, V1Secret } from '@kubernetes/client-node';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { DEMO_TENANT, hostKubeconfigPath } from '../../src/cluster/up.ts';
import { decodeSecretData } from '../../src/controller/secret-data.ts';
import { resolveDataStore } from '../../src/datastore/connections.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { freezeMessage } from '../../src/tenant/steps/freeze.ts';
import { waitFor } from '../../src/util/wait.ts';
import { ConfigMapWriter } from '../support/config-map-writer.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';
import { tenantTraces } from '../support/tenant-traces.ts';

const LOAD_NAMESPACE = 'migration-load';

describe('live migration between DataStores: kamaji up, a worker, a writer', { skip: NEEDS_ROOT }, () => {
  const instance = useKamajiInstance('migration');
  let upSucceeded = false;
  const demoKubeconfig = () => join(instance().workDir, 'demo.kubeconfig');
  const stateDir = () => `--state-dir=${instance().layout.root}`;
  const requireUp = () => assert.ok(upSucceeded, 'kamaji up did not succeed (see the first test)');

  async function kubectl(kubeconfig: string, args: readonly string[]): Promise<string> {
    return (await runCommand(instance().kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args])).stdout;
  }
  const admin = (...args: string[]) => kubectl(hostKubeconfigPath(instance().layout), args);
  const demo = (...args: string[]) => kubectl(demoKubeconfig(), args);
  const demoTcp = async () =>
    JSON.parse(
      await admin('get', 'tcp', DEMO_TENANT.name, '-n', DEMO_TENANT.namespace, '-o', 'json'),
    ) as TenantControlPlane;

  const setDataStore = (target: string) =>
    admin(
      'patch',
      'tcp',
      DEMO_TENANT.name,
      '-n',
      DEMO_TENANT.namespace,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { dataStore: target } }),
    );

  /** The demo tenant once its data is on `target`, no migration pending, Ready, and the move reported. */
  const movedTo = (target: string) =>
    waitFor(
      async () => {
        const tcp = await demoTcp();
        const done = tcp.status?.storage?.dataStoreName === target && !tcp.status.storage.migration;
        const migrated = (tcp.status?.conditions ?? []).some(
          (condition) => condition.type === 'DataStoreMigrated' && condition.reason === 'Migrated',
        );
        const ready = tcp.status?.kubernetesResources?.version?.status === 'Ready';
        return done && migrated && ready ? tcp : undefined;
      },
      { description: `the move to ${target}`, timeoutMs: 300_000, intervalMs: 500 },
    );

  async function resolved(name: string) {
    const dataStore = JSON.parse(await admin('get', 'datastore', name, '-o', 'json')) as DataStore;
    return resolveDataStore(name, dataStore.spec, async (namespace, secret) => {
      const object = JSON.parse(await admin('get', 'secret', secret, '-n', namespace, '-o', 'json')) as V1Secret;
      return decodeSecretData(object);
    });
  }

  async function addDataStore(driver: string, name: string): Promise<void> {
    const added = await kamaji('datastore', 'add', driver, `--name=${name}`, stateDir());
    assert.equal(added.code, 0, `kamaji datastore add ${driver} --name=${name} failed:\n${printed(added)}`);
  }

  test('kamaji up with one worker, and the DataStores to move between', { timeout: 900_000 }, async () => {
    const up = await kamaji('up', stateDir(), '--workers=1');
    assert.equal(up.code, 0, `kamaji up failed:\n${printed(up)}`);
    const kubeconfig = await kamaji('kubeconfig', DEMO_TENANT.name, stateDir());
    assert.equal(kubeconfig.code, 0, printed(kubeconfig));
    await writeFile(demoKubeconfig(), kubeconfig.stdout, { mode: 0o600 });
    await demo('create', 'namespace', LOAD_NAMESPACE);
    await addDataStore('etcd', 'etcd2');
    await addDataStore('postgresql', 'pg1');
    await addDataStore('postgresql', 'pg2');
    await addDataStore('mysql', 'mysql1');
    upSucceeded = true;
  });

  const moves = [
    ['default', 'etcd2'],
    ['etcd2', 'pg1'],
    ['pg1', 'pg2'],
    ['pg2', 'mysql1'],
    ['mysql1', 'default'],
  ] as const;
  for (const [source, target] of moves) {
    test(`${source} → ${target} under a writer: refusals name the move, every acknowledged ConfigMap once, the worker Ready, nothing left on ${source}`, {
      timeout: 600_000,
    }, async (t) => {
      requireUp();
      const before = await demoTcp();
      assert.equal(before.status?.storage?.dataStoreName, source, `the tenant is on ${source}`);
      const schema = before.spec.dataStoreSchema ?? '';
      const user = before.spec.dataStoreUsername ?? '';
      const writer = new ConfigMapWriter(
        await readFile(demoKubeconfig(), 'utf8'),
        LOAD_NAMESPACE,
        `${source}-${target}`,
      );
      try {
        writer.start();
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const started = performance.now();
        await setDataStore(target);
        await movedTo(target);
        const seconds = (performance.now() - started) / 1000;
        // Writes after the move are acknowledged again.
        const acknowledgedBefore = writer.report.acknowledged.length;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const report = await writer.stop();
        assert.ok(report.acknowledged.length > acknowledgedBefore, 'writes are acknowledged once the move is done');

        const messages = [...report.refused.keys()];
        assert.ok(messages.length > 0, 'some writes met the freeze');
        assert.deepEqual(messages, [freezeMessage(source, target)], 'every refusal names the move');
        const refusals = [...report.refused.values()].reduce((sum, count) => sum + count, 0);

        const stored = await writer.stored();
        const missing = report.acknowledged.filter((sequence) => stored.get(sequence) !== 1);
        assert.deepEqual(missing, [], 'every acknowledged ConfigMap exists exactly once');
        const twice = [...stored].filter(([, count]) => count > 1);
        assert.deepEqual(twice, [], 'no ConfigMap twice');

        const nodes = (JSON.parse(await demo('get', 'nodes', '-o', 'json')) as { items: V1Node[] }).items;
        const ready = nodes.filter((node) =>
          node.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True'),
        );
        assert.equal(ready.length, 1, 'the worker is still joined and Ready');

        assert.deepEqual(await tenantTraces(await resolved(source), schema, user), { data: 0, users: 0 });
        t.diagnostic(
          `${source} → ${target}: ${seconds.toFixed(1)} s to Migrated; ${report.acknowledged.length} writes acknowledged, ${refusals} refused over ${(((report.refusedUntil ?? 0) - (report.refusedFrom ?? 0)) / 1000).toFixed(1)} s, ${report.unknown.length} unanswered or failed otherwise (${report.unknown.filter((sequence) => stored.get(sequence) === 1).length} of them stored: ${[...report.errors].join(' | ')})`,
        );
      } finally {
        await writer.stop();
        writer.close();
      }
    });
  }

  test('a target that refuses the tenant (its user exists there outside Kamaji): rolled back, writes never stopped, abandoned when set back', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const before = await demoTcp();
    assert.equal(before.status?.storage?.dataStoreName, 'default');
    const user = before.spec.dataStoreUsername ?? '';
    const target = await resolved('etcd2');
    assert.equal(target.kind, 'etcd');
    const root = target.kind === 'etcd' ? connectEtcd(target.root) : undefined;
    const writer = new ConfigMapWriter(await readFile(demoKubeconfig(), 'utf8'), LOAD_NAMESPACE, 'refused');
    try {
      await root?.auth.userAdd({ name: user, options: { no_password: true } });
      writer.start();
      await setDataStore('etcd2');
      // The record is written at once, the condition with the rest of the status at the end of that pass.
      const failed = await waitFor(
        async () => {
          const tcp = await demoTcp();
          const reason = (tcp.status?.conditions ?? []).find((entry) => entry.type === 'DataStoreMigrated')?.reason;
          return tcp.status?.storage?.migration?.step === 'Failed' && reason === 'MigrationFailed' ? tcp : undefined;
        },
        { description: 'the failed attempt', timeoutMs: 120_000, intervalMs: 500 },
      );
      const condition = (failed.status?.conditions ?? []).find((entry) => entry.type === 'DataStoreMigrated');
      assert.match(
        condition?.message ?? '',
        /^cannot migrate from DataStore default to etcd2: spec\.dataStoreUsername: .*; rolled back: the tenant stays on default, .*Fix DataStore etcd2 or set spec\.dataStore back to default \(next attempt in \d+ s\)$/,
      );
      assert.equal(failed.status?.storage?.dataStoreName, 'default');
      await setDataStore('default');
      await waitFor(
        async () => {
          const tcp = await demoTcp();
          const reason = (tcp.status?.conditions ?? []).find((entry) => entry.type === 'DataStoreMigrated')?.reason;
          return !tcp.status?.storage?.migration && reason === 'Abandoned' ? tcp : undefined;
        },
        { description: 'the attempt abandoned', timeoutMs: 120_000, intervalMs: 500 },
      );
      const report = await writer.stop();
      assert.equal(report.refused.size, 0, 'no write was refused: nothing was frozen');
      const stored = await writer.stored();
      assert.deepEqual(
        report.acknowledged.filter((sequence) => stored.get(sequence) !== 1),
        [],
      );
      assert.ok(
        ((await root?.auth.userList())?.users ?? []).includes(user),
        'the user made outside Kamaji is left alone',
      );
    } finally {
      await writer.stop();
      writer.close();
      await root?.auth.userDelete({ name: user }).catch(() => undefined);
      root?.close();
    }
  });

  /** SIGKILL to the process of the manager replica holding the leader Lease (found by its pod's HOSTNAME). */
  async function killLeader(): Promise<string> {
    const lease = JSON.parse(await admin('get', 'lease', 'kamaji-manager', '-n', 'kamaji-system', '-o', 'json')) as {
      spec: { holderIdentity?: string };
    };
    const pod = lease.spec.holderIdentity?.split('_')[0] ?? '';
    const victims = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
          return command.includes('manager') && environment.includes(`HOSTNAME=${pod}`);
        } catch {
          return false;
        }
      });
    assert.equal(victims.length, 1, `one manager process of the leader ${pod}`);
    process.kill(Number(victims[0]), 'SIGKILL');
    return pod;
  }

  for (const [source, target, step] of [
    ['default', 'etcd2', 'Copying'],
    ['etcd2', 'default', 'Switched'],
  ] as const) {
    test(`${source} → ${target} with the leading manager killed (SIGKILL) at ${step}: the next leader ends it consistent`, {
      timeout: 600_000,
    }, async (t) => {
      requireUp();
      const before = await demoTcp();
      assert.equal(before.status?.storage?.dataStoreName, source);
      const writer = new ConfigMapWriter(
        await readFile(demoKubeconfig(), 'utf8'),
        LOAD_NAMESPACE,
        `killed-${step.toLowerCase()}`,
      );
      try {
        writer.start();
        await setDataStore(target);
        await waitFor(async () => ((await demoTcp()).status?.storage?.migration?.step === step ? true : undefined), {
          description: `the migration at ${step}`,
          timeoutMs: 120_000,
          intervalMs: 50,
        });
        const killed = await killLeader();
        const after = await movedTo(target);
        const report = await writer.stop();
        const stored = await writer.stored();
        const missing = report.acknowledged.filter((sequence) => stored.get(sequence) !== 1);
        assert.deepEqual(missing, [], 'every acknowledged ConfigMap exists exactly once');
        assert.deepEqual([...report.refused.keys()], [freezeMessage(source, target)]);
        const schema = after.spec.dataStoreSchema ?? '';
        const user = after.spec.dataStoreUsername ?? '';
        assert.deepEqual(await tenantTraces(await resolved(source), schema, user), { data: 0, users: 0 });
        assert.notEqual(
          (await tenantTraces(await resolved(target), schema, user)).data,
          0,
          'the data is on the target',
        );
        t.diagnostic(`killed ${killed} at ${step}; ${report.acknowledged.length} writes acknowledged, all there`);
      } finally {
        await writer.stop();
        writer.close();
      }
    });
  }
});
