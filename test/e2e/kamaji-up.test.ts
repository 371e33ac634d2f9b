/**
 * Acceptance of `kamaji up` as a user meets it: the real CLI (`bin/kamaji.js` as child processes) and the real
 * kubectl against one admin cluster brought up once for the whole file in a fresh state dir, then taken down.
 * Run as root: node_modules/.bin/node --test test/e2e/kamaji-up.test.ts
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import type { Etcd3 } from 'etcd3';
import { parse } from 'yaml';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { DATASTORE_CLIENT_PORT } from '../../src/cluster/datastores/etcd.ts';
import { tenantControlPlaneManifest } from '../../src/cluster/kamaji-install.ts';
import { cgroupMountPoints, mountPoints, mountsToUnmount, processesOfInstance } from '../../src/cluster/node-box.ts';
import { processesMentioning, processStartTime, recordedPid } from '../../src/cluster/pid-files.ts';
import { pidFile, type StateLayout, workerLayout } from '../../src/cluster/state.ts';
import { DEMO_TENANT, hostKubeconfigPath, OWNER_PROCESS, UP_MANAGER_REPLICAS } from '../../src/cluster/up.ts';
import { listWorkers } from '../../src/cluster/worker.ts';
import { tenantKeyPrefix } from '../../src/datastore/etcd/access.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import type { CertificateAndKey } from '../../src/pki/certificates.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { LABEL_TENANT } from '../../src/tenant/names.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { waitFor } from '../../src/util/wait.ts';
import { hostIptablesLinesOf } from '../support/host.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

// The demo tenant asks for konnectivity: its server runs beside the API server.
const CONTROL_PLANE_CONTAINERS = ['konnectivity-server', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
const SECOND_TENANT = { name: 'second', namespace: 'e2e-second', nodePort: 31444 } as const;
/** Created through the demo tenant's API; it must survive an API server restart. */
const KEPT = { namespace: 'e2e-data', name: 'kept', marker: `written-${Date.now()}` } as const;
const NO_OP_UP_MAX_SECONDS = 5;

/** A GET with no client credentials at all (as `system:anonymous`), trusting only `caPem`. */
function fetchAnonymously(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const call = request(url, { ca: caPem, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    call.on('timeout', () => call.destroy(new Error(`GET ${url}: no answer`)));
    call.on('error', reject);
    call.end();
  });
}

/** Identifies a process for good: a pid reused after it died has another start time. */
interface ProcessIdentity {
  pid: number;
  startTime: string | undefined;
}

function identify(pids: Iterable<number>): ProcessIdentity[] {
  return [...new Set(pids)].map((pid) => ({ pid, startTime: processStartTime(pid) }));
}

/** Those still running, with their command lines. A zombie has ended: the machine's init reaps exited shims late. */
function stillRunning(processes: readonly ProcessIdentity[]): string[] {
  const commandLine = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim().slice(0, 200);
    } catch {
      return '(ended while we looked)';
    }
  };
  return processes
    .filter(({ pid, startTime }) => isAlive(pid) && processStartTime(pid) === startTime)
    .map(({ pid }) => `${pid}: ${commandLine(pid)}`);
}

/**
 * The processes mentioning `fragment` that live through a second: containerd runs short helpers (runc for exec
 * probes, shims starting) whose command lines name the state dir too, and they come and go on their own.
 */
async function lastingProcessesMentioning(fragment: string): Promise<string[]> {
  const first = identify(processesMentioning(fragment));
  await sleep(1_000);
  return stillRunning(first).sort();
}

describe('kamaji up: the local admin cluster as a user meets it', { skip: NEEDS_ROOT }, () => {
  let workDir = '';
  let layout: StateLayout;
  let kubectlPath = '';
  let upSucceeded = false;
  let iptablesBefore: string[] = [];

  const adminKubeconfig = () => hostKubeconfigPath(layout);
  const demoKubeconfig = () => join(workDir, 'demo.kubeconfig');
  const requireUp = () => assert.ok(upSucceeded, 'kamaji up did not succeed (see the first test)');

  async function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<string> {
    return (await runCommand(kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args], { input })).stdout;
  }

  async function tenant(namespace: string, name: string): Promise<TenantControlPlane> {
    const json = await kubectl(adminKubeconfig(), ['get', 'tcp', name, '-n', namespace, '-o', 'json']);
    return JSON.parse(json) as TenantControlPlane;
  }

  async function tenantPods(namespace: string, name: string): Promise<V1Pod[]> {
    const list = await kubectl(adminKubeconfig(), [
      'get',
      'pods',
      '-n',
      namespace,
      '-l',
      `${LABEL_TENANT}=${name}`,
      '-o',
      'json',
    ]);
    return (JSON.parse(list) as { items: V1Pod[] }).items;
  }

  /** Waits with `kubectl wait`; a timeout says which conditions were not met. */
  async function waitForTenantStatus(namespace: string, name: string, status: string, timeoutSeconds = 120) {
    const result = await runCommand(
      kubectlPath,
      [
        `--kubeconfig=${adminKubeconfig()}`,
        'wait',
        `tcp/${name}`,
        '-n',
        namespace,
        `--for=jsonpath={.status.kubernetesResources.version.status}=${status}`,
        `--timeout=${timeoutSeconds}s`,
      ],
      { allowFailure: true },
    );
    if (result.code === 0) return;
    const conditions = (await tenant(namespace, name)).status?.conditions ?? [];
    assert.fail(
      `TenantControlPlane ${namespace}/${name} did not become ${status}: ${result.stderr.trim()}\n` +
        conditions.map((condition) => `  ${condition.type}=${condition.status}: ${condition.message}`).join('\n'),
    );
  }

  /** Every pod of a cluster (admin or tenant) Running with every container ready. */
  async function waitForEveryPodReady(kubeconfig: string): Promise<void> {
    await waitFor(
      async () => {
        const pods = (JSON.parse(await kubectl(kubeconfig, ['get', 'pods', '-A', '-o', 'json'])) as { items: V1Pod[] })
          .items;
        const waiting = pods.filter(
          (pod) =>
            pod.status?.phase !== 'Running' ||
            !(pod.status.containerStatuses ?? []).every((container) => container.ready),
        );
        if (waiting.length === 0) return true;
        throw new Error(
          `not ready: ${waiting.map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`).join(', ')}`,
        );
      },
      { timeoutMs: 120_000, intervalMs: 500, description: `every pod of ${kubeconfig} to be Ready` },
    );
  }

  /** The shared DataStore etcd as its root user, from the certificates `up` keeps in the state dir. */
  async function withDatastore<T>(work: (etcd: Etcd3) => Promise<T>): Promise<T> {
    const pki = JSON.parse(await readFile(join(layout.root, 'datastore', 'pki.json'), 'utf8')) as {
      ca: CertificateAndKey;
      root: CertificateAndKey;
    };
    const etcd = connectEtcd({
      endpoints: [`${layout.network.nodeAddress}:${DATASTORE_CLIENT_PORT}`],
      caCertificatePem: pki.ca.certificatePem,
      clientCertificatePem: pki.root.certificatePem,
      clientKeyPem: pki.root.privateKeyPem,
    });
    try {
      return await work(etcd);
    } finally {
      etcd.close();
    }
  }

  /** Every process the pid files name that still runs, by name. */
  async function recordedProcesses(): Promise<Record<string, number | undefined>> {
    const files = existsSync(layout.dirs.pids) ? readdirSync(layout.dirs.pids) : [];
    const names = files.map((file) => file.replace(/\.pid$/, ''));
    return Object.fromEntries(await Promise.all(names.map(async (name) => [name, await recordedPid(layout, name)])));
  }

  const instance = useKamajiInstance('up');
  before(async () => {
    ({ workDir, layout, kubectlPath } = instance());
    iptablesBefore = await hostIptablesLinesOf(layout.id);
  });

  test('from a fresh state, up succeeds and the demo tenant is Ready with its pod running', {
    timeout: 600_000,
  }, async (t) => {
    const started = performance.now();
    const up = await kamaji('up', `--state-dir=${layout.root}`);
    t.diagnostic(`kamaji up took ${((performance.now() - started) / 1000).toFixed(1)}s`);
    assert.equal(up.code, 0, `kamaji up failed:\n${printed(up)}`);
    assert.match(up.stdout, /Use the tenant with/);

    await waitForTenantStatus(DEMO_TENANT.namespace, DEMO_TENANT.name, 'Ready', 10);
    const pods = await tenantPods(DEMO_TENANT.namespace, DEMO_TENANT.name);
    assert.equal(pods.length, 1, `one demo pod: ${pods.map((pod) => pod.metadata?.name).join(', ')}`);
    const [pod] = pods;
    assert.equal(pod?.status?.phase, 'Running');
    const containers = (pod?.status?.containerStatuses ?? []).map(
      (container) => `${container.name}=${container.ready}`,
    );
    assert.deepEqual(
      containers.sort(),
      CONTROL_PLANE_CONTAINERS.map((name) => `${name}=true`),
      'every container of the control-plane pod is ready',
    );
    upSucceeded = true;
  });

  test("the demo tenant's kubeconfig works from the host and its data lands under its own etcd prefix only", async () => {
    requireUp();
    const kubeconfig = await kamaji('kubeconfig', DEMO_TENANT.name, `--state-dir=${layout.root}`);
    assert.equal(kubeconfig.code, 0, `kamaji kubeconfig failed:\n${printed(kubeconfig)}`);
    await writeFile(demoKubeconfig(), kubeconfig.stdout, { mode: 0o600 });
    assert.match(await kubectl(demoKubeconfig(), ['get', 'ns']), /^kube-system\s+Active/m);

    await kubectl(demoKubeconfig(), ['create', 'namespace', KEPT.namespace]);
    await kubectl(demoKubeconfig(), [
      'create',
      'configmap',
      KEPT.name,
      '-n',
      KEPT.namespace,
      `--from-literal=marker=${KEPT.marker}`,
    ]);

    const prefix = tenantKeyPrefix((await tenant(DEMO_TENANT.namespace, DEMO_TENANT.name)).spec.dataStoreSchema ?? '');
    await withDatastore(async (etcd) => {
      const mentioning = (await etcd.getAll().keys()).filter((key) => key.includes(KEPT.namespace));
      const configMapKey = `${prefix}configmaps/${KEPT.namespace}/${KEPT.name}`;
      for (const expected of [`${prefix}namespaces/${KEPT.namespace}`, configMapKey]) {
        assert.ok(
          mentioning.includes(expected),
          `${expected} is in etcd (keys naming ${KEPT.namespace}: ${mentioning.join(', ')})`,
        );
      }
      const elsewhere = mentioning.filter((key) => !key.startsWith(prefix));
      assert.deepEqual(elsewhere, [], `keys naming ${KEPT.namespace} outside the demo tenant's prefix ${prefix}`);
      assert.ok(
        (await etcd.get(configMapKey).string())?.includes(KEPT.marker),
        'the stored ConfigMap holds the marker',
      );
    });
  });

  test('kubeadm token create --print-join-command works against the demo tenant, and cluster-info is signed for the token and readable anonymously', {
    timeout: 120_000,
  }, async () => {
    requireUp();
    const demo = await tenant(DEMO_TENANT.namespace, DEMO_TENANT.name);
    const kubeadmCondition = demo.status?.conditions?.find((condition) => condition.type === 'KubeadmResourcesReady');
    assert.equal(kubeadmCondition?.status, 'True', `KubeadmResourcesReady: ${kubeadmCondition?.message}`);
    assert.match(demo.status?.kubeadmPhase?.bootstrapToken?.checksum ?? '', /^[0-9a-f]{64}$/);

    const kubeadm = (await ensureComponent('kubeadm')).path;
    const { stdout } = await runCommand(kubeadm, [
      '--kubeconfig',
      demoKubeconfig(),
      'token',
      'create',
      '--print-join-command',
    ]);
    const join = /^kubeadm join (\S+) --token (\S+) --discovery-token-ca-cert-hash sha256:([0-9a-f]{64})\s*$/m.exec(
      stdout,
    );
    assert.ok(join, `a join command: ${stdout}`);
    const [, endpoint = '', token = '', hash = ''] = join;
    const caPem = Buffer.from(
      await kubectl(adminKubeconfig(), [
        'get',
        'secret',
        `${DEMO_TENANT.name}-ca`,
        '-n',
        DEMO_TENANT.namespace,
        '-o',
        'jsonpath={.data.ca\\.crt}',
      ]),
      'base64',
    ).toString('utf8');
    const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(hash, createHash('sha256').update(spki).digest('hex'), "the hash is the tenant CA's");
    const server = (parse(await readFile(demoKubeconfig(), 'utf8')) as { clusters: { cluster: { server: string } }[] })
      .clusters[0]?.cluster.server;
    assert.equal(`https://${endpoint}`, server, 'the endpoint is the one the admin kubeconfig uses');

    // What a joining node does first: read cluster-info anonymously (trusting nothing yet but the hash) and find
    // it signed for its token by the tenant's bootstrapsigner.
    const tokenId = token.split('.')[0] ?? '';
    const clusterInfo = await waitFor(
      async () => {
        const response = await fetchAnonymously(
          `${server}/api/v1/namespaces/kube-public/configmaps/cluster-info`,
          caPem,
        );
        if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${response.body.slice(0, 200)}`);
        const configMap = JSON.parse(response.body) as { data?: Record<string, string> };
        if (!configMap.data?.[`jws-kubeconfig-${tokenId}`]) {
          throw new Error(`keys: ${Object.keys(configMap.data ?? {}).join(', ')}`);
        }
        return configMap.data;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: `cluster-info to be signed for token ${tokenId}` },
    );
    const kubeconfig = parse(clusterInfo.kubeconfig ?? '') as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    };
    assert.equal(kubeconfig.clusters[0]?.cluster.server, server);
    assert.equal(
      Buffer.from(kubeconfig.clusters[0]?.cluster['certificate-authority-data'] ?? '', 'base64').toString('utf8'),
      caPem,
    );
  });

  test('up a second time is a no-op: fast, says so, starts nothing', async (t) => {
    requireUp();
    // Pods still start for a while after up returns (the tenant's DaemonSet pods on the worker that just joined,
    // pulled through the registry): no second up caused those.
    for (const kubeconfig of [adminKubeconfig(), demoKubeconfig()]) await waitForEveryPodReady(kubeconfig);
    const processesBefore = await lastingProcessesMentioning(layout.root);
    const recordedBefore = await recordedProcesses();
    const started = performance.now();
    const again = await kamaji('up', `--state-dir=${layout.root}`);
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`second kamaji up took ${seconds.toFixed(1)}s`);
    assert.equal(again.code, 0, `second kamaji up failed:\n${printed(again)}`);
    assert.match(again.stdout, /already up/);
    assert.ok(seconds < NO_OP_UP_MAX_SECONDS, `took ${seconds.toFixed(1)}s`);
    assert.deepEqual(await lastingProcessesMentioning(layout.root), processesBefore, 'no process started or stopped');
    assert.deepEqual(await recordedProcesses(), recordedBefore, 'the pid files name the same processes');
  });

  test('a second tenant becomes Ready alongside, sleeps at 0 replicas, wakes at 1, and leaves nothing when deleted', {
    timeout: 600_000,
  }, async () => {
    requireUp();
    const { name, namespace, nodePort } = SECOND_TENANT;
    await kubectl(adminKubeconfig(), ['create', 'namespace', namespace]);
    await kubectl(
      adminKubeconfig(),
      ['apply', '-f', '-'],
      JSON.stringify(tenantControlPlaneManifest(name, namespace, nodePort)),
    );
    await waitForTenantStatus(namespace, name, 'Ready');
    assert.equal(
      (await tenant(DEMO_TENANT.namespace, DEMO_TENANT.name)).status?.kubernetesResources?.version?.status,
      'Ready',
      'the demo tenant is still Ready',
    );

    await kubectl(adminKubeconfig(), ['scale', `tcp/${name}`, '-n', namespace, '--replicas=0']);
    await waitForTenantStatus(namespace, name, 'Sleeping');
    await kubectl(adminKubeconfig(), ['scale', `tcp/${name}`, '-n', namespace, '--replicas=1']);
    await waitForTenantStatus(namespace, name, 'Ready');

    const { dataStoreSchema = '', dataStoreUsername = '' } = (await tenant(namespace, name)).spec;
    const prefix = tenantKeyPrefix(dataStoreSchema);
    await withDatastore(async (etcd) => {
      assert.ok((await etcd.getAll().prefix(prefix).count()) > 0, `the tenant wrote keys under ${prefix}`);
      assert.ok(
        (await etcd.getUsers()).some((user) => user.name === dataStoreUsername),
        'its etcd user exists',
      );
    });

    // kubectl delete waits for the finalizer, which deletes the tenant's data and objects.
    await kubectl(adminKubeconfig(), ['delete', `tcp/${name}`, '-n', namespace, '--timeout=120s']);
    await waitFor(
      async () => {
        const left = await tenantPods(namespace, name);
        if (left.length === 0) return true;
        throw new Error(`pods left: ${left.map((pod) => `${pod.metadata?.name} (${pod.status?.phase})`).join(', ')}`);
      },
      { timeoutMs: 120_000, intervalMs: 500, description: `the pods of ${namespace}/${name} to go` },
    );
    assert.equal(
      await kubectl(adminKubeconfig(), ['get', 'secrets', '-n', namespace, '-o', 'name']),
      '',
      'no Secret left',
    );
    await withDatastore(async (etcd) => {
      assert.deepEqual(await etcd.getAll().prefix(prefix).keys(), [], `no key left under ${prefix}`);
      assert.ok(!(await etcd.getUsers()).some((user) => user.name === dataStoreUsername), 'its etcd user is gone');
    });
  });

  test("killing the demo tenant's kube-apiserver: the pod restarts it, the tenant is Ready again, no data lost", {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const schema = (await tenant(DEMO_TENANT.namespace, DEMO_TENANT.name)).spec.dataStoreSchema ?? '';
    const apiserverContainer = async () => {
      const [pod] = await tenantPods(DEMO_TENANT.namespace, DEMO_TENANT.name);
      return pod?.status?.containerStatuses?.find((container) => container.name === 'kube-apiserver');
    };
    // Only the tenant's API server is told to use its prefix.
    const apiservers = processesMentioning(`--etcd-prefix=/${schema}`);
    assert.equal(apiservers.length, 1, `one kube-apiserver process of the demo tenant: ${apiservers.join(', ')}`);
    const killed = apiservers[0]!;
    const restartsBefore = (await apiserverContainer())?.restartCount ?? 0;

    process.kill(killed, 'SIGKILL');
    await waitFor(
      async () => {
        const container = await apiserverContainer();
        if (container?.ready && container.restartCount > restartsBefore) return true;
        throw new Error(`restarts ${container?.restartCount}, ready ${container?.ready}`);
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'the kube-apiserver container to be restarted and ready' },
    );
    assert.notDeepEqual(processesMentioning(`--etcd-prefix=/${schema}`), [killed], 'a new kube-apiserver process runs');
    await waitForTenantStatus(DEMO_TENANT.namespace, DEMO_TENANT.name, 'Ready');
    // The NodePort reaches the pod again once kube-proxy has seen it ready.
    const marker = await waitFor(
      () =>
        kubectl(demoKubeconfig(), [
          'get',
          'configmap',
          KEPT.name,
          '-n',
          KEPT.namespace,
          '-o',
          'jsonpath={.data.marker}',
        ]),
      { timeoutMs: 30_000, intervalMs: 500, description: `ConfigMap ${KEPT.namespace}/${KEPT.name} to be served` },
    );
    assert.equal(marker, KEPT.marker);
  });

  test('the shared DataStore frozen: the Ready demo tenant turns Ready=False within 30 s naming it, and recovers alone', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const readyCondition = async () =>
      ((await tenant(DEMO_TENANT.namespace, DEMO_TENANT.name)).status?.conditions ?? []).find(
        (condition) => condition.type === 'Ready',
      );
    assert.equal((await readyCondition())?.status, 'True', 'the demo tenant is Ready before the outage');
    const [etcd, ...others] = processesMentioning(join(layout.root, 'datastore'));
    assert.ok(etcd !== undefined && others.length === 0, 'one DataStore etcd process');
    // SIGSTOP: the process stays, its port stays open, nothing answers (a hung datastore, the hard kind of outage).
    process.kill(etcd, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      const down = await waitFor(
        async () => {
          // The control plane's own readiness may fail first; within the DataStore check period the status
          // names the DataStore as the cause.
          const ready = await readyCondition();
          return ready?.status === 'False' && ready.reason === 'DataStoreUnreachable' ? ready : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500, description: 'the demo tenant to say its DataStore is down' },
      );
      assert.equal(down.reason, 'DataStoreUnreachable');
      assert.match(down.message ?? '', /DataStore default/);
      process.stdout.write(`# outage reported after ${((Date.now() - frozenAt) / 1000).toFixed(1)} s\n`);
    } finally {
      process.kill(etcd, 'SIGCONT');
    }
    await waitFor(async () => ((await readyCondition())?.status === 'True' ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'the demo tenant to be Ready again',
    });
  });

  test('down, even without the owner pid file, leaves no process, mount, netns, link, iptables rule or cgroup; down --purge removes the state dir', {
    timeout: 300_000,
  }, async () => {
    const holder = await recordedPid(layout, 'mount-holder');
    const recorded = Object.values(await recordedProcesses()).filter((pid) => pid !== undefined);
    const workers = (await listWorkers(layout)).map((worker) => workerLayout(layout, worker));
    const workerProcesses = await Promise.all(
      workers.map(async (box) => processesOfInstance(box, await recordedPid(box, 'mount-holder'))),
    );
    const ours = identify([
      ...processesOfInstance(layout, holder),
      ...workerProcesses.flat(),
      ...processesMentioning(layout.root),
      ...recorded,
    ]);
    if (upSucceeded) {
      assert.equal(workers.length, 1, 'up gave the demo tenant one worker');
      assert.ok(workerProcesses[0]?.length, 'the worker runs before down');
      const owner = await recordedPid(layout, OWNER_PROCESS);
      assert.ok(owner !== undefined && ours.some(({ pid }) => pid === owner), 'the owner process runs before down');
      // The manager runs as pods of the node, stopped with it (no host process, no pid file of its own).
      assert.deepEqual(
        Object.keys(await recordedProcesses()).filter((name) => name.includes('manager')),
        [],
        'no manager host process is recorded',
      );
      // As when the state dir is deleted under a running instance: without its pid file, status and down find
      // the owner by the arguments it was started with.
      await rm(pidFile(layout, OWNER_PROCESS));
      const status = await kamaji('status', `--state-dir=${layout.root}`);
      assert.match(
        status.stdout,
        new RegExp(`owner +running \\(pid ${owner}\\) without its pid file`),
        printed(status),
      );
      assert.match(
        status.stdout,
        new RegExp(`manager +${UP_MANAGER_REPLICAS}/${UP_MANAGER_REPLICAS} pods ready`),
        printed(status),
      );
    }

    const down = await kamaji('down', `--state-dir=${layout.root}`);
    assert.equal(down.code, 0, `kamaji down failed:\n${printed(down)}`);

    assert.deepEqual(stillRunning(ours), [], 'no process of the instance is left');
    assert.deepEqual(processesMentioning(layout.root), [], `no process mentions ${layout.root}`);
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.deepEqual(
      mountsToUnmount(mountPoints(mountinfo), [layout.root]),
      [],
      'nothing is mounted under the state dir',
    );
    const { stdout: netns } = await runCommand('ip', ['netns', 'list']);
    const { stdout: links } = await runCommand('ip', ['-o', 'link', 'show']);
    for (const box of [layout, ...workers]) {
      assert.ok(!netns.includes(box.names.netns), `network namespace ${box.names.netns} is gone`);
      assert.ok(!links.includes(box.names.hostLink), `host link ${box.names.hostLink} is gone`);
      const leftCgroups = cgroupMountPoints(mountinfo).filter((hierarchy) =>
        existsSync(join(hierarchy, box.names.cgroupRoot)),
      );
      assert.deepEqual(leftCgroups, [], `no ${box.names.cgroupRoot} cgroup is left`);
    }
    assert.deepEqual(await hostIptablesLinesOf(layout.id), iptablesBefore, 'no iptables chain or rule of ours');
    assert.ok(existsSync(layout.root), 'down without --purge keeps the state dir');

    const purge = await kamaji('down', `--state-dir=${layout.root}`, '--purge');
    assert.equal(purge.code, 0, `kamaji down --purge failed:\n${printed(purge)}`);
    assert.ok(!existsSync(layout.root), 'down --purge removes the state dir');
  });
});
