/**
 * An admin cluster of several nodes: `kamaji up --workers 0`, then `kamaji node add` joins a second admin node with
 * the real `kubeadm join`. A tenant with two control-plane replicas gets one per node and a PodDisruptionBudget;
 * draining either node keeps its API server answering (probed every 200 ms, failures and the longest gap counted).
 * `down` stops the added node and `up` brings it back; `node remove` leaves nothing. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Node, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { listAdminNodes, stopAdminNodeBox } from '../../src/cluster/admin-nodes.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { tenantControlPlaneManifest } from '../../src/cluster/kamaji-install.ts';
import { cgroupMountPoints, netnsPath, processesOfInstance } from '../../src/cluster/node-box.ts';
import { processesMentioning, recordedPid } from '../../src/cluster/pid-files.ts';
import { adminNodeLayout, type StateLayout, workerRange } from '../../src/cluster/state.ts';
import { hostKubeconfigPath } from '../../src/cluster/up.ts';
import { readSingleKubeconfig } from '../../src/pki/kubeconfig.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const SPREAD_TENANT = { name: 'spread', namespace: 'default', nodePort: 31447 } as const;
const ADDED_NODE = 'kamaji-admin-2';

/** One GET of the tenant API server's /version on a new connection (as a fresh client would open), 2 s at most. */
function probe(url: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const call = request(`${url}/version`, { ca, agent: false, timeout: 2_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
    });
    call.on('timeout', () => call.destroy(new Error('no answer')));
    call.on('error', () => resolve(false));
    call.end();
  });
}

/** Probes every 200 ms until stopped: the calls made, those that failed, and the longest time without an answer. */
function startProbing(url: string, ca: string) {
  const result = { calls: 0, failures: 0, longestGapMs: 0 };
  let running = true;
  const done = (async () => {
    let lastAnswer = performance.now();
    while (running) {
      const ok = await probe(url, ca);
      result.calls += 1;
      const now = performance.now();
      if (ok) {
        result.longestGapMs = Math.max(result.longestGapMs, now - lastAnswer);
        lastAnswer = now;
      } else {
        result.failures += 1;
      }
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return result;
    },
  };
}

describe('an admin cluster of several nodes: kamaji node add', { skip: NEEDS_ROOT }, () => {
  let layout: StateLayout;
  let kubectlPath = '';
  let added = false;
  const requireAdded = () => assert.ok(added, 'kamaji up and node add did not succeed (see the first test)');

  const admin = async (...args: string[]) =>
    (await runCommand(kubectlPath, [`--kubeconfig=${hostKubeconfigPath(layout)}`, ...args])).stdout;
  const adminInput = async (input: string, ...args: string[]) =>
    (await runCommand(kubectlPath, [`--kubeconfig=${hostKubeconfigPath(layout)}`, ...args], { input })).stdout;
  const nodes = async () => (JSON.parse(await admin('get', 'nodes', '-o', 'json')) as { items: V1Node[] }).items;
  const isReady = (node: V1Node) =>
    node.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false;
  const tenantPods = async () =>
    (
      JSON.parse(
        await admin(
          'get',
          'pods',
          '-n',
          SPREAD_TENANT.namespace,
          '-l',
          `kamaji.clastix.io/name=${SPREAD_TENANT.name}`,
          '-o',
          'json',
        ),
      ) as { items: V1Pod[] }
    ).items.filter((pod) => !pod.metadata?.deletionTimestamp);
  const readyPods = (pods: V1Pod[]) =>
    pods.filter((pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  const budget = async () => {
    const out = await runCommand(
      kubectlPath,
      [
        `--kubeconfig=${hostKubeconfigPath(layout)}`,
        'get',
        'pdb',
        SPREAD_TENANT.name,
        '-n',
        SPREAD_TENANT.namespace,
        '-o',
        'json',
      ],
      { allowFailure: true },
    );
    return out.code === 0 ? (JSON.parse(out.stdout) as V1PodDisruptionBudget) : undefined;
  };
  const setReplicas = (replicas: number) =>
    admin(
      'patch',
      'tcp',
      SPREAD_TENANT.name,
      '-n',
      SPREAD_TENANT.namespace,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { controlPlane: { deployment: { replicas } } } }),
    );
  const waitForTwoReadyPods = () =>
    waitFor(
      async () => {
        const pods = readyPods(await tenantPods());
        return pods.length === 2 ? pods : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, description: 'two Ready control-plane pods of the spread tenant' },
    );

  const instance = useKamajiInstance('admin-nodes');
  before(async () => {
    ({ layout, kubectlPath } = instance());
  });

  test('kamaji node add joins a second admin node: both Ready, listed, with routes between their pod ranges', {
    timeout: 600_000,
  }, async (t) => {
    const up = await kamaji('up', `--state-dir=${layout.root}`, '--workers=0');
    assert.equal(up.code, 0, `kamaji up failed:\n${printed(up)}`);
    const refused = await kamaji('node', 'add', '--name=kamaji-admin', `--state-dir=${layout.root}`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /admin node named kamaji-admin exists already: choose another --name/);

    const started = performance.now();
    const add = await kamaji('node', 'add', `--state-dir=${layout.root}`);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(add.code, 0, printed(add));
    t.diagnostic(`kamaji node add → Node Ready: ${seconds.toFixed(1)}s (${add.stdout.trim()})`);
    const all = await nodes();
    assert.deepEqual(all.map((node) => node.metadata?.name).sort(), ['kamaji-admin', ADDED_NODE]);
    assert.ok(all.every(isReady), 'both admin nodes Ready');
    const [record] = await listAdminNodes(layout);
    assert.ok(record?.podCidr);
    const box = adminNodeLayout(layout, record);
    const first = all.find((node) => node.metadata?.name === 'kamaji-admin');
    assert.equal(first?.spec?.podCIDR, layout.network.nodePodSubnet, "the first node's pods keep to its own range");

    const list = await kamaji('node', 'list', `--state-dir=${layout.root}`);
    assert.match(
      list.stdout,
      new RegExp(`${ADDED_NODE} +${box.network.nodeAddress.replaceAll('.', '\\.')} +10\\.244\\.\\d+\\.0/24 +running`),
    );
    const status = await kamaji('status', `--state-dir=${layout.root}`);
    assert.match(status.stdout, new RegExp(`node ${ADDED_NODE} +running`));
    const routes = async (of: StateLayout) =>
      (await runCommand('nsenter', [`--net=${netnsPath(of)}`, 'ip', '-4', 'route', 'show', 'proto', 'static'])).stdout;
    assert.match(await routes(layout), new RegExp(`${record.podCidr} via ${box.network.nodeAddress}`));
    assert.match(await routes(box), new RegExp(`${layout.network.nodePodSubnet} via ${layout.network.nodeAddress}`));
    added = true;
  });

  test('a tenant with 2 replicas gets one per node and a PodDisruptionBudget owned by it', {
    timeout: 300_000,
  }, async () => {
    requireAdded();
    const manifest = tenantControlPlaneManifest(SPREAD_TENANT.name, SPREAD_TENANT.namespace, SPREAD_TENANT.nodePort);
    manifest.spec.controlPlane.deployment = { replicas: 2 };
    await adminInput(JSON.stringify(manifest), 'apply', '-f', '-');
    await admin(
      'wait',
      `tcp/${SPREAD_TENANT.name}`,
      '-n',
      SPREAD_TENANT.namespace,
      '--for=jsonpath={.status.kubernetesResources.version.status}=Ready',
      '--timeout=180s',
    );
    const pods = await waitForTwoReadyPods();
    assert.deepEqual(
      pods.map((pod) => pod.spec?.nodeName).sort(),
      ['kamaji-admin', ADDED_NODE],
      'one replica per node',
    );
    const pdb = await waitFor(budget, { timeoutMs: 30_000, intervalMs: 500, description: 'the tenant PDB' });
    assert.equal(pdb.spec?.maxUnavailable, 1);
    assert.deepEqual(pdb.spec?.selector?.matchLabels, {
      'kamaji.clastix.io/name': SPREAD_TENANT.name,
      'kamaji.clastix.io/component': 'deployment',
    });
    assert.equal(pdb.metadata?.ownerReferences?.[0]?.kind, 'TenantControlPlane');
  });

  test("the added node's pods cannot open connections to the workers' range (REJECT, counted)", {
    timeout: 60_000,
  }, async () => {
    requireAdded();
    const [record] = await listAdminNodes(layout);
    assert.ok(record);
    const box = adminNodeLayout(layout, record);
    // The tenant replica's API server on the added node: its pod network namespace, through its process.
    const apiServer = processesOfInstance(box, await recordedPid(box, 'mount-holder')).find(
      (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'kube-apiserver',
    );
    assert.ok(apiServer, `a tenant API server runs on ${ADDED_NODE}`);
    const target = workerRange(layout).replace(/\.\d+\/26$/, '.64');
    let denials = 0;
    for (const port of [10250, 22]) {
      const script = `require('node:net').connect(${port}, '${target}').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
      const { stdout } = await runCommand('nsenter', [
        `--net=/proc/${apiServer}/ns/net`,
        process.execPath,
        '-e',
        script,
      ]);
      assert.equal(stdout.trim(), 'ECONNREFUSED', `a pod on ${ADDED_NODE} is refused at ${target}:${port} at once`);
      denials += 1;
    }
    assert.equal(denials, 2);
  });

  /** Drains `node` while probing the tenant's API server; its replica must come back on `other`. */
  async function drainUnderProbes(node: string, other: string, t: { diagnostic(message: string): void }) {
    const kubeconfig = await kamaji('kubeconfig', SPREAD_TENANT.name, `--state-dir=${layout.root}`);
    const server = readSingleKubeconfig(kubeconfig.stdout);
    assert.ok(server?.server && server.caCertificatePem, printed(kubeconfig));
    const probing = startProbing(server.server, server.caCertificatePem);
    await sleep(2_000);
    const started = performance.now();
    const drain = await runCommand(
      kubectlPath,
      [
        `--kubeconfig=${hostKubeconfigPath(layout)}`,
        'drain',
        node,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=120s',
      ],
      { allowFailure: true },
    );
    const drained = (performance.now() - started) / 1000;
    const pods = await waitForTwoReadyPods();
    const back = (performance.now() - started) / 1000;
    await sleep(2_000);
    const probed = await probing.stop();
    await admin('uncordon', node);
    t.diagnostic(
      `drain of ${node}: ${drained.toFixed(1)}s; two replicas Ready again after ${back.toFixed(1)}s; ` +
        `${probed.calls} probes, ${probed.failures} failed, longest gap ${probed.longestGapMs.toFixed(0)} ms`,
    );
    assert.equal(drain.code, 0, printed(drain));
    assert.deepEqual(
      pods.map((pod) => pod.spec?.nodeName),
      [other, other],
      'the evicted replica is back on the other node',
    );
    assert.equal(probed.failures, 0, 'the tenant API server answered every probe during the drain');
  }

  test('draining the added node keeps the tenant API answering; its replica comes back on the first node', {
    timeout: 300_000,
  }, async (t) => {
    requireAdded();
    await drainUnderProbes(ADDED_NODE, 'kamaji-admin', t);
  });

  test('after a rollout the replicas spread again; draining the first node keeps the tenant API answering too', {
    timeout: 300_000,
  }, async (t) => {
    requireAdded();
    // A new revision's pods spread among themselves (matchLabelKeys: pod-template-hash).
    await admin('rollout', 'restart', `deployment/${SPREAD_TENANT.name}`, '-n', SPREAD_TENANT.namespace);
    await admin(
      'rollout',
      'status',
      `deployment/${SPREAD_TENANT.name}`,
      '-n',
      SPREAD_TENANT.namespace,
      '--timeout=180s',
    );
    const spread = await waitForTwoReadyPods();
    assert.deepEqual(spread.map((pod) => pod.spec?.nodeName).sort(), ['kamaji-admin', ADDED_NODE]);
    await drainUnderProbes('kamaji-admin', ADDED_NODE, t);
  });

  test('below 2 replicas the PDB goes; back at 2 it returns', { timeout: 120_000 }, async () => {
    requireAdded();
    await setReplicas(1);
    await waitFor(async () => ((await budget()) === undefined ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'the PDB to be deleted at 1 replica',
    });
    await setReplicas(2);
    await waitFor(budget, { timeoutMs: 60_000, intervalMs: 500, description: 'the PDB back at 2 replicas' });
  });

  test('a 1-replica tenant on a node that stops comes back Ready on the other node (time printed)', {
    timeout: 400_000,
  }, async (t) => {
    requireAdded();
    const single = { name: 'single', namespace: 'default', nodePort: 31449 } as const;
    // The drains above left both manager replicas on one node; a rollout spreads them again (the chart's preferred
    // anti-affinity), so stopping a node leaves a manager to take the lease and go on reconciling.
    await admin('rollout', 'restart', 'deployment/kamaji', '-n', 'kamaji-system');
    await admin('rollout', 'status', 'deployment/kamaji', '-n', 'kamaji-system', '--timeout=180s');
    // Placed on the added node: the first one cordoned while it is scheduled.
    await admin('cordon', 'kamaji-admin');
    const manifest = tenantControlPlaneManifest(single.name, single.namespace, single.nodePort);
    // The Node controller marks a stopped node's pods for eviction after the NoExecute tolerations run out: 300 s by
    // default (DefaultTolerationSeconds); a control plane with one replica is better moved sooner.
    manifest.spec.controlPlane.deployment = {
      replicas: 1,
      tolerations: ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready'].map((key) => ({
        key,
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 10,
      })),
    };
    await adminInput(JSON.stringify(manifest), 'apply', '-f', '-');
    const readyOn = async () => {
      const pods = (
        JSON.parse(
          await admin(
            'get',
            'pods',
            '-n',
            single.namespace,
            '-l',
            `kamaji.clastix.io/name=${single.name}`,
            '-o',
            'json',
          ),
        ) as { items: V1Pod[] }
      ).items;
      return readyPods(pods.filter((pod) => !pod.metadata?.deletionTimestamp)).map((pod) => pod.spec?.nodeName);
    };
    const placed = await waitFor(async () => ((await readyOn()).length === 1 ? await readyOn() : undefined), {
      timeoutMs: 180_000,
      intervalMs: 500,
      description: 'the single replica Ready',
    });
    await admin('uncordon', 'kamaji-admin');
    assert.deepEqual(placed, [ADDED_NODE]);
    const [record] = await listAdminNodes(layout);
    assert.ok(record);
    const started = performance.now();
    // The machine stops: its kubelet, containerd and pods end, its box goes.
    await stopAdminNodeBox(layout, record, { purge: false });
    await waitFor(async () => ((await readyOn()).join() === 'kamaji-admin' ? true : undefined), {
      timeoutMs: 300_000,
      intervalMs: 1_000,
      description: 'the single replica Ready on the first node',
    });
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`1-replica tenant back Ready on kamaji-admin ${seconds.toFixed(1)}s after ${ADDED_NODE} stopped`);
    await admin('delete', 'tcp', single.name, '-n', single.namespace, '--wait=true', '--timeout=120s');
  });

  test('down stops the added node; up brings it back Ready without joining again', { timeout: 600_000 }, async () => {
    requireAdded();
    const uid = (await nodes()).find((node) => node.metadata?.name === ADDED_NODE)?.metadata?.uid;
    const [record] = await listAdminNodes(layout);
    assert.ok(record);
    const box = adminNodeLayout(layout, record);
    const down = await kamaji('down', `--state-dir=${layout.root}`);
    assert.equal(down.code, 0, printed(down));
    assert.ok(!existsSync(netnsPath(box)), 'its box is gone');
    assert.equal(await recordedPid(box, 'kubelet'), undefined);
    const up = await kamaji('up', `--state-dir=${layout.root}`, '--workers=0');
    assert.equal(up.code, 0, printed(up));
    const again = await waitFor(
      async () => {
        const node = (await nodes()).find((candidate) => candidate.metadata?.name === ADDED_NODE);
        return node && isReady(node) ? node : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1_000, description: `${ADDED_NODE} Ready again after up` },
    );
    assert.equal(again.metadata?.uid, uid, 'the same Node: it did not join again');
  });

  test('node remove drains, deletes the Node and leaves nothing of it', { timeout: 300_000 }, async () => {
    requireAdded();
    const [record] = await listAdminNodes(layout);
    assert.ok(record);
    const box = adminNodeLayout(layout, record);
    const processes = processesOfInstance(box, await recordedPid(box, 'mount-holder'));
    assert.ok(processes.length > 0, 'the added node runs');
    const staticRoutes = async () =>
      (
        await runCommand('nsenter', [`--net=${netnsPath(layout)}`, 'ip', '-4', 'route', 'show', 'proto', 'static'])
      ).stdout
        .split('\n')
        .filter(Boolean);
    const rulesBefore = (await runCommand('nsenter', [`--net=${netnsPath(layout)}`, 'iptables-save'])).stdout;
    assert.equal((await staticRoutes()).length, 1, 'one route, to the added node');

    const removed = await kamaji('node', 'remove', ADDED_NODE, `--state-dir=${layout.root}`);
    assert.equal(removed.code, 0, printed(removed));
    assert.match(removed.stderr, new RegExp(`drained ${ADDED_NODE}`));
    assert.deepEqual(
      (await nodes()).map((node) => node.metadata?.name),
      ['kamaji-admin'],
    );
    const pods = await waitForTwoReadyPods();
    assert.deepEqual(
      pods.map((pod) => pod.spec?.nodeName),
      ['kamaji-admin', 'kamaji-admin'],
      'both on the first node',
    );
    assert.deepEqual(processes.filter(isAlive), [], 'no process of the node is left');
    assert.deepEqual(processesMentioning(box.root), []);
    const { stdout: netns } = await runCommand('ip', ['netns', 'list']);
    assert.ok(!netns.includes(box.names.netns), `${box.names.netns} is gone`);
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const cgroups = cgroupMountPoints(mountinfo).filter((hierarchy) =>
      existsSync(join(hierarchy, box.names.cgroupRoot)),
    );
    assert.deepEqual(cgroups, [], `no ${box.names.cgroupRoot} cgroup is left`);
    assert.ok(!mountinfo.includes(box.root), `nothing mounted under ${box.root}`);
    assert.ok(!existsSync(box.root), 'its directory is gone');
    assert.deepEqual(await staticRoutes(), [], "the first node's route to its pods is gone");
    const kamajiRules = (text: string) => text.split('\n').filter((line) => line.includes('kamaji:')).length;
    const rulesAfter = (await runCommand('nsenter', [`--net=${netnsPath(layout)}`, 'iptables-save'])).stdout;
    assert.equal(kamajiRules(rulesAfter), kamajiRules(rulesBefore), "the first node's own rules are unchanged");

    const missing = await kamaji('node', 'remove', ADDED_NODE, `--state-dir=${layout.root}`);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no admin node named kamaji-admin-2 .*kamaji node list/);
    const first = await kamaji('node', 'remove', 'kamaji-admin', `--state-dir=${layout.root}`);
    assert.match(first.stderr, /first admin node .* cannot be removed/);
  });

  test('deleting the tenant deletes its PodDisruptionBudget', { timeout: 180_000 }, async () => {
    requireAdded();
    assert.ok(await budget(), 'the PDB is there before');
    await admin('delete', 'tcp', SPREAD_TENANT.name, '-n', SPREAD_TENANT.namespace, '--wait=true', '--timeout=120s');
    assert.equal(await budget(), undefined);
  });
});
