import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { hasStatus, KubeClient } from '../../src/controller/kube-client.ts';
import { LeadershipLostError, type LeaseSpec, microTime } from '../../src/controller/leader-election.ts';
import { startManager } from '../../src/manager/manager.ts';
import { exitedWithLog, type SupervisedProcess } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { NAMESPACE, useKamajiCluster } from '../support/kamaji-cluster.ts';
import { type ProxiedCall, startKillSwitchProxy } from '../support/kill-switch-proxy.ts';
import { logOf, startManagerProcess } from '../support/manager-process.ts';

const LEASE_PATH = '/apis/coordination.k8s.io/v1/namespaces/kamaji-system/leases/kamaji-manager';
/** The manager's defaults (src/controller/leader-election.ts). */
const RENEW_DEADLINE_MS = 10_000;
const tcpPath = (name: string) =>
  `/apis/kamaji.clastix.io/v1alpha1/namespaces/${NAMESPACE}/tenantcontrolplanes/${name}`;

interface Lease {
  metadata: { resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Writes a foreign holder into the Lease, as another replica would once it saw the lease expire; its lease is
 * short and never renewed, so a waiting replica may take over two seconds after it sees the change. Returns when
 * the take-over was sent (the earliest moment it can have happened).
 */
async function takeOver(admin: KubeClient): Promise<number> {
  for (;;) {
    const lease = await admin.request<Lease>('GET', LEASE_PATH);
    const sentAt = Date.now();
    const now = microTime(sentAt);
    const spec: LeaseSpec = {
      holderIdentity: 'intruder',
      leaseDurationSeconds: 2,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1,
    };
    try {
      await admin.request('PUT', LEASE_PATH, { body: { ...lease, spec } });
      return sentAt;
    } catch (error) {
      if (!hasStatus(error, 409)) throw error; // the leader renewed meanwhile: read again
    }
  }
}

/** A call that changes something, other than the elector's own Lease calls. */
const isWrite = (call: ProxiedCall) => call.method !== 'GET' && !call.path.startsWith('/apis/coordination.k8s.io/');

describe('kamaji manager --leader-elect on a real kube-apiserver', () => {
  const cluster = useKamajiCluster();

  test('a leader whose Lease is taken over exits with status 1 at once, writes nothing more, and the other replica leads', async (t) => {
    const { supervisor, dir, harness } = cluster();
    const admin = new KubeClient(accessFromKubeconfig(harness.kubeconfigYaml, dir));
    // Each replica reaches the API server through a proxy of its own, which records its every call.
    const proxyA = await startKillSwitchProxy(harness.kubeconfigYaml);
    const proxyB = await startKillSwitchProxy(harness.kubeconfigYaml);
    const readLease = () => admin.request<Lease>('GET', LEASE_PATH);
    const waitLeader = (replica: SupervisedProcess, timeoutMs: number) =>
      waitFor(
        async () => {
          const holder = (await readLease()).spec?.holderIdentity ?? '';
          if (holder.includes(`_${replica.pid}_`)) return holder;
          throw new Error(`held by "${holder}"`);
        },
        { timeoutMs, intervalMs: 100, description: `${replica.name} to lead`, giveUp: () => exitedWithLog(replica) },
      );
    const replicas: SupervisedProcess[] = [];
    try {
      const a = await startManagerProcess(supervisor, {
        name: 'replica-a',
        dir,
        kubeconfigYaml: proxyA.kubeconfigYaml,
        leaderElect: true,
      });
      replicas.push(a);
      await waitLeader(a, 20_000);
      const b = await startManagerProcess(supervisor, {
        name: 'replica-b',
        dir,
        kubeconfigYaml: proxyB.kubeconfigYaml,
        leaderElect: true,
      });
      replicas.push(b);
      await waitFor(
        async () => (proxyB.calls.some((call) => call.path === LEASE_PATH && call.status === 200) ? true : undefined),
        { timeoutMs: 20_000, description: 'replica-b to campaign', giveUp: () => exitedWithLog(b) },
      );

      // The leader works.
      await cluster().createTenant('one');
      await cluster().waitProvisioned('one', { giveUp: () => exitedWithLog(a) });
      assert.ok(proxyA.calls.some((call) => call.method === 'PATCH' && call.path === tcpPath('one')));

      // The leader is in the middle of a reconcile when it loses the Lease: its writes are held from now on.
      const isWrite = (call: ProxiedCall) =>
        call.method !== 'GET' && !call.path.startsWith('/apis/coordination.k8s.io/');
      const heldA = proxyA.hold(isWrite);
      await cluster().createTenant('two');
      await waitFor(async () => (heldA.held().some((call) => call.path === tcpPath('two')) ? true : undefined), {
        timeoutMs: 10_000,
        description: "replica-a's claim of TCP two, held",
        giveUp: () => exitedWithLog(a),
      });

      // Another replica takes the Lease over.
      const takenAt = await takeOver(admin);
      const exited = a.exited.then((how) => ({ how, at: Date.now() }));

      // replica-a learns it lost the lease from a Lease read answered after the take-over...
      const lossSeen = await waitFor(
        async () =>
          proxyA.calls.find(
            (call) => call.path === LEASE_PATH && call.method === 'GET' && call.arrivedAt >= takenAt && call.answeredAt,
          ),
        { timeoutMs: RENEW_DEADLINE_MS, description: 'replica-a to read the Lease after the take-over' },
      );
      // ...and a moment later the API server "answers" its held calls. A replica that went on with its in-flight
      // reconcile (a graceful drain) would now write the rest of TCP two; one that stopped has closed them.
      await sleep(1_000);
      const heldCount = heldA.held().length;
      const released = heldA.release();

      const exit = await Promise.race([exited, sleep(RENEW_DEADLINE_MS + 2_000 - (Date.now() - takenAt))]);
      const lateWrites = proxyA.calls.filter(
        (call) => isWrite(call) && call.fate !== 'dropped' && call.arrivedAt >= (lossSeen.answeredAt ?? 0),
      );
      assert.deepEqual(
        lateWrites.map((call) => `${call.method} ${call.path}`),
        [],
        'replica-a wrote nothing after it lost the lease',
      );
      assert.ok(exit, `replica-a still runs ${RENEW_DEADLINE_MS + 2_000} ms after the take-over:\n${await logOf(a)}`);
      t.diagnostic(`replica-a exited (${exit.how}) ${exit.at - takenAt} ms after the take-over`);
      assert.equal(exit.how, 1, 'exit status 1, not a signal or 0');
      assert.ok(exit.at - takenAt <= RENEW_DEADLINE_MS + 2_000);
      assert.match(await logOf(a), /leadership lost: .*held by intruder.*exiting now \(status 1\)/);

      assert.deepEqual(released, { forwarded: 0, dropped: heldCount }, 'its held calls died with it');
      const leaseWrites = proxyA.calls.filter((call) => call.path === LEASE_PATH && call.method === 'PUT');
      assert.ok(
        leaseWrites.filter((call) => call.arrivedAt >= takenAt).every((call) => call.status === 409),
        'its renewals after the take-over were all refused',
      );

      // replica-b takes over once the intruder's lease expires, and finishes TCP two.
      await waitLeader(b, 20_000);
      const two = await cluster().waitProvisioned('two', { giveUp: () => exitedWithLog(b) });
      assert.ok(two.metadata.finalizers?.includes('finalizer.kamaji.clastix.io'));
      assert.ok(
        proxyB.calls.some((call) => call.method === 'PATCH' && call.path === tcpPath('two') && call.status === 200),
        'replica-b claimed TCP two',
      );
      assert.equal(
        proxyA.calls.filter((call) => call.path.startsWith(tcpPath('two')) && call.status === 200 && isWrite(call))
          .length,
        0,
        'no write of replica-a on TCP two reached the API server',
      );
    } finally {
      for (const replica of replicas) await supervisor.stop(replica);
      admin.close();
      await proxyA.close();
      await proxyB.close();
    }
  });

  test('in-process (startManager), a lost Lease fences the manager at once: done rejects, nothing more is written', async () => {
    const { dir, harness } = cluster();
    const admin = new KubeClient(accessFromKubeconfig(harness.kubeconfigYaml, dir));
    const proxy = await startKillSwitchProxy(harness.kubeconfigYaml);
    const kubeconfig = join(dir, 'in-process.kubeconfig');
    await writeFile(kubeconfig, proxy.kubeconfigYaml, { mode: 0o600 });
    const logs: string[] = [];
    const manager = await startManager({
      kubeconfig,
      defaultDataStore: 'default',
      maxConcurrentReconciles: 4,
      probeAddress: '',
      leaderElection: true,
      leaderElectionNamespace: 'kamaji-system',
      keyAlgorithm: 'ECDSA-P256',
      log: (message) => logs.push(message),
    });
    try {
      await waitFor(
        async () => {
          const holder = (await admin.request<Lease>('GET', LEASE_PATH)).spec?.holderIdentity ?? '';
          if (holder.includes(`_${process.pid}_`)) return true;
          throw new Error(`held by "${holder}"`);
        },
        { timeoutMs: 20_000, intervalMs: 100, description: 'the in-process manager to lead' },
      );
      const held = proxy.hold(isWrite);
      await cluster().createTenant('three');
      await waitFor(async () => (held.held().some((call) => call.path === tcpPath('three')) ? true : undefined), {
        timeoutMs: 10_000,
        description: 'the claim of TCP three, held',
      });

      const takenAt = await takeOver(admin);
      const outcome = await Promise.race([
        manager.done.then(
          () => 'resolved',
          (error: unknown) => error,
        ),
        sleep(RENEW_DEADLINE_MS + 2_000),
      ]);
      const lostAt = Date.now();
      assert.ok(outcome instanceof LeadershipLostError, `done rejected with a LeadershipLostError, not ${outcome}`);
      assert.match(outcome.message, /held by intruder/);
      assert.ok(lostAt - takenAt <= RENEW_DEADLINE_MS + 2_000, `done rejected ${lostAt - takenAt} ms after`);
      assert.ok(logs.some((line) => /leadership lost: .*in-flight work aborted/.test(line)));

      // A moment later the API server "answers" the in-flight reconcile's held calls: they lead nowhere, the
      // fenced client tore their connections down.
      await sleep(500);
      const heldCount = held.held().length;
      const released = held.release();
      await sleep(1_000);
      assert.deepEqual(released, { forwarded: 0, dropped: heldCount });
      const lateWrites = proxy.calls.filter((call) => isWrite(call) && call.arrivedAt >= lostAt);
      assert.deepEqual(
        lateWrites.map((call) => `${call.method} ${call.path}`),
        [],
        'nothing written after the loss',
      );
    } finally {
      await manager.stop();
      admin.close();
      await proxy.close();
    }
  });
});
