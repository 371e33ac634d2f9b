import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import {
  type AdminNode,
  adminKubeConfig,
  adminNodeStatus,
  startAdminNode,
  stopAdminNode,
  waitForNodeReady,
} from '../../src/cluster/admin-node.ts';
import { runCommand } from '../../src/cluster/command.ts';
import {
  COREDNS_IMAGE,
  HTTP_ECHO_IMAGE,
  HTTP_ECHO_PORT,
  KONNECTIVITY_AGENT_IMAGE,
  KONNECTIVITY_SERVER_IMAGE,
  KUBE_PROXY_IMAGE,
  PAUSE_IMAGE,
  parseImageReference,
} from '../../src/cluster/image-references.ts';
import { KUBELET_HOST_SYSCTLS, sysctlFile } from '../../src/cluster/kubelet.ts';
import {
  cgroupMountPoints,
  ensureNodeBox,
  mountPoints,
  mountsToUnmount,
  parseMountInfo,
  processesOfInstance,
  runInBox,
} from '../../src/cluster/node-box.ts';
import { processesMentioning } from '../../src/cluster/pid-files.ts';
import {
  REGISTRY_PROCESS,
  registryAddress,
  registryCatalog,
  registryConfigFile,
  registryManifestDigest,
} from '../../src/cluster/registry.ts';
import { type StateLayout, stateLayout } from '../../src/cluster/state.ts';
import { isAlive, Supervisor, tailFile } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { hostIptablesLinesOf } from '../support/host.ts';
import { NEEDS_ROOT, requireHostPackages } from '../support/needs-root.ts';

/** Debian's docker-registry package keeps its own storage here; ours must never write to it. */
const DEBIAN_REGISTRY_STORAGE = '/var/lib/docker-registry';

async function waitForPod(api: CoreV1Api, name: string, phases: readonly string[]): Promise<V1Pod> {
  return waitFor(
    async () => {
      const pod = await api.readNamespacedPod({ namespace: 'default', name });
      if (phases.includes(pod.status?.phase ?? '')) return pod;
      throw new Error(`phase ${pod.status?.phase}: ${JSON.stringify(pod.status?.containerStatuses ?? [])}`);
    },
    { timeoutMs: 90_000, intervalMs: 500, description: `pod ${name} to be ${phases.join(' or ')}` },
  );
}

/** Runs an image's command to completion in a pod (pulled through the registry) and returns its output. */
async function runToCompletion(api: CoreV1Api, name: string, container: Record<string, unknown>, hostNetwork = false) {
  await api.createNamespacedPod({
    namespace: 'default',
    body: {
      metadata: { name },
      spec: { restartPolicy: 'Never', hostNetwork, containers: [{ name, imagePullPolicy: 'Always', ...container }] },
    },
  });
  const pod = await waitForPod(api, name, ['Succeeded', 'Failed']);
  const log = await api.readNamespacedPodLog({ namespace: 'default', name });
  assert.equal(pod.status?.phase, 'Succeeded', `${name}: ${log}`);
  return log;
}

function hostSysctls(): string[] {
  return KUBELET_HOST_SYSCTLS.map((name) => `${name}=${readFileSync(sysctlFile(name), 'utf8')}`);
}

describe('admin node: kubeadm init in a node box, as root', { skip: NEEDS_ROOT }, () => {
  const supervisor = new Supervisor();
  let layout: StateLayout | undefined;
  let node: AdminNode | undefined;
  let iptablesBefore: string[] = [];
  let sysctlsBefore: string[] = [];
  let startedAt = 0;
  let registryStorageBefore = false;

  const running = (): AdminNode => {
    if (!node) throw new Error('the admin node did not start (see the before hook)');
    return node;
  };
  const core = async () => (await adminKubeConfig(running().layout)).makeApiClient(CoreV1Api);

  before(async () => {
    await requireHostPackages();
    const stateDir = await mkdtemp('/tmp/kamaji-e2e-');
    layout = stateLayout(stateDir);
    iptablesBefore = await hostIptablesLinesOf(layout.id);
    sysctlsBefore = hostSysctls();
    registryStorageBefore = existsSync(DEBIAN_REGISTRY_STORAGE);
    startedAt = Date.now();
    try {
      node = await startAdminNode({ stateDir, supervisor, report: (line) => process.stderr.write(`${line}\n`) });
    } catch (error) {
      const logs = layout.dirs.logs;
      const tails = readdirSync(logs).map(async (name) => `==> ${name} <==\n${await tailFile(join(logs, name), 30)}`);
      process.stderr.write(`${(await Promise.all(tails)).join('\n\n')}\n`);
      throw error;
    }
  });

  after(async () => {
    // Does the work only when a test failed before the teardown test (or start-up failed).
    if (layout && existsSync(layout.root)) await stopAdminNode(layout, { removeState: true });
    await supervisor.stopAll();
  });

  test('the node turns Ready', async (t) => {
    await waitForNodeReady(running().layout);
    t.diagnostic(`node Ready ${((Date.now() - startedAt) / 1000).toFixed(1)}s after start`);
    const status = await adminNodeStatus(running().layout);
    for (const name of ['mount-holder', 'containerd', REGISTRY_PROCESS, 'kubelet', 'kube-proxy'] as const) {
      assert.ok(status.processes[name], `${name} runs`);
    }
    assert.equal(status.processes['kubeadm-init'], undefined, 'kubeadm init has finished');
  });

  test('up again on a running node starts nothing new', async () => {
    const before = await adminNodeStatus(running().layout);
    await startAdminNode({ stateDir: running().layout.root, supervisor, report: () => undefined });
    assert.deepEqual(await adminNodeStatus(running().layout), before);
  });

  test('the control plane runs as static pods from the imported images', async () => {
    const api = await core();
    const components = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
    await waitFor(
      async () => {
        const pods = (await api.listNamespacedPod({ namespace: 'kube-system' })).items;
        const phases = components.map((component) => {
          const pod = pods.find((candidate) => candidate.metadata?.labels?.component === component);
          return `${component}=${pod?.status?.phase ?? 'missing'}`;
        });
        if (phases.every((phase) => phase.endsWith('=Running'))) return true;
        throw new Error(phases.join(' '));
      },
      { timeoutMs: 120_000, intervalMs: 1_000, description: 'the control-plane pods to run' },
    );
  });

  test('a pod from an imported image gets a pod-network address and runs', async (t) => {
    const api = await core();
    const pod = {
      metadata: { name: 'pause' },
      spec: { containers: [{ name: 'pause', image: PAUSE_IMAGE, imagePullPolicy: 'Never' }] },
    };
    // The default ServiceAccount appears a moment after the controller manager starts.
    await waitFor(() => api.createNamespacedPod({ namespace: 'default', body: pod }), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'the pod to be accepted',
    });
    const created = Date.now();
    const running = await waitFor(
      async () => {
        const current = await api.readNamespacedPod({ namespace: 'default', name: 'pause' });
        if (current.status?.phase === 'Running') return current;
        throw new Error(`phase ${current.status?.phase}: ${JSON.stringify(current.status?.containerStatuses ?? [])}`);
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'the pause pod to run' },
    );
    t.diagnostic(`pod Running ${((Date.now() - created) / 1000).toFixed(1)}s after it was accepted`);
    assert.match(running.status?.podIP ?? '', /^10\.244\./);
  });

  test('kube-proxy programs the kubernetes Service in the node namespace only', async () => {
    const { layout } = running();
    await waitFor(
      async () => {
        const { stdout } = await runCommand('nsenter', [`--net=/var/run/netns/${layout.names.netns}`, 'iptables-save']);
        return stdout.includes('default/kubernetes:https') || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'kube-proxy rules for default/kubernetes' },
    );
    assert.deepEqual(await hostIptablesLinesOf(layout.id), iptablesBefore);
  });

  test('the registry on the node address serves every image, with the digests containerd imported', async () => {
    const { layout } = running();
    const catalog = await registryCatalog(registryAddress(layout));
    for (const reference of [PAUSE_IMAGE, KUBE_PROXY_IMAGE, COREDNS_IMAGE, HTTP_ECHO_IMAGE]) {
      assert.ok(catalog.includes(parseImageReference(reference).repository), `${reference} in ${catalog.join(' ')}`);
    }
    assert.ok(catalog.includes('kas-network-proxy/proxy-server') && catalog.includes('kas-network-proxy/proxy-agent'));
    const { stdout } = await runCommand('ctr', [
      '--address',
      layout.files.containerdSocket,
      '-n',
      'k8s.io',
      'images',
      'ls',
    ]);
    const imported = stdout
      .split('\n')
      .find((line) => line.startsWith(`${PAUSE_IMAGE} `))
      ?.split(/\s+/)[2];
    assert.equal(await registryManifestDigest(registryAddress(layout), PAUSE_IMAGE), imported);
  });

  test('a pod pulls the workload image through the registry (imagePullPolicy: Always) and serves HTTP', async (t) => {
    const { layout } = running();
    const api = await core();
    const labels = { app: 'http-echo' };
    const created = Date.now();
    await api.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'http-echo', labels },
        spec: { containers: [{ name: 'echo', image: HTTP_ECHO_IMAGE, imagePullPolicy: 'Always' }] },
      },
    });
    await waitForPod(api, 'http-echo', ['Running']);
    t.diagnostic(`pulled and Running ${((Date.now() - created) / 1000).toFixed(1)}s after it was accepted`);
    const service = await api.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name: 'http-echo' },
        spec: { type: 'NodePort', selector: labels, ports: [{ port: HTTP_ECHO_PORT, targetPort: HTTP_ECHO_PORT }] },
      },
    });
    const nodePort = service.spec?.ports?.[0]?.nodePort;
    // From the host through the node port (kube-proxy), then from the pod through its Service's cluster IP.
    const get = async (path: string) =>
      waitFor(
        async () => {
          const response = await fetch(`http://${layout.network.nodeAddress}:${nodePort}${path}`, {
            signal: AbortSignal.timeout(5_000),
          });
          if (response.ok) return (await response.text()).trim();
          throw new Error(`HTTP ${response.status}: ${await response.text()}`);
        },
        { timeoutMs: 30_000, intervalMs: 500, description: `GET ${path} on the http-echo node port` },
      );
    assert.equal(await get('/'), 'http-echo');
    assert.equal(await get(`/get?url=http://${service.spec?.clusterIP}:${HTTP_ECHO_PORT}/`), 'http-echo');
    // The pod's resolver: its own name comes from the kubelet's /etc/hosts (CoreDNS is not deployed here).
    const pod = await api.readNamespacedPod({ namespace: 'default', name: 'http-echo' });
    assert.equal(await get('/dns?name=http-echo'), pod.status?.podIP);
  });

  test("the kube-proxy image's iptables sees the node's rules (same nf_tables backend); CoreDNS and konnectivity run", async () => {
    const api = await core();
    // Each image pulled through the registry and run to completion, all at once.
    const [saved, version, coredns, server, agent] = await Promise.all([
      runToCompletion(
        api,
        'iptables-save',
        { image: KUBE_PROXY_IMAGE, command: ['iptables-save', '-t', 'nat'], securityContext: { privileged: true } },
        true,
      ),
      runToCompletion(api, 'iptables-version', { image: KUBE_PROXY_IMAGE, command: ['iptables', '--version'] }),
      runToCompletion(api, 'coredns-version', { image: COREDNS_IMAGE, args: ['-version'] }),
      runToCompletion(api, 'proxy-server-help', { image: KONNECTIVITY_SERVER_IMAGE, args: ['--help'] }),
      // By upstream Kamaji's command path rather than the Entrypoint.
      runToCompletion(api, 'proxy-agent-help', {
        image: KONNECTIVITY_AGENT_IMAGE,
        command: ['/proxy-agent', '--help'],
      }),
    ]);
    assert.match(saved, /^:KUBE-SERVICES /m, 'the chains kube-proxy (a node process) wrote');
    assert.match(saved, /default\/kubernetes:https/);
    assert.match(version, /\(nf_tables\)/);
    assert.match(coredns, /^CoreDNS-1\.13\.1$/m);
    assert.match(server, /gRPC proxy server/);
    assert.match(agent, /Usage:/);
  });

  test('a second instance gets a box of its own, and removing it leaves the first alone', async () => {
    const first = running().layout;
    let second = stateLayout(await mkdtemp('/tmp/kamaji-e2e-second-'));
    // Ids that share their first byte share a node subnet, which `up` refuses; pick a state dir that does not.
    while (second.network.nodeAddress === first.network.nodeAddress) {
      second = stateLayout(await mkdtemp('/tmp/kamaji-e2e-second-'));
    }
    try {
      const box = await ensureNodeBox(second, supervisor);
      const nsfsMounts = parseMountInfo(readFileSync(`/proc/${box.holderPid}/mountinfo`, 'utf8')).filter(
        (mount) => mount.fsType === 'nsfs',
      );
      assert.deepEqual(nsfsMounts, [], "the second box holds no copy of the first's network namespace");
      assert.equal((await runInBox(box, 'ls', ['-A', '/etc/kubernetes'])).stdout, '', 'its own /etc/kubernetes');
    } finally {
      await stopAdminNode(second, { removeState: true });
    }
    await waitForNodeReady(first, 10_000);
  });

  test('down stops every process and leaves nothing behind', async () => {
    const { layout, box } = running();
    // Every process of the instance, shims and pods included.
    const seenPids = new Set<number>();
    for (const pid of processesOfInstance(layout, box.holderPid)) seenPids.add(pid);
    for (const pid of supervisor.pids()) seenPids.add(pid);
    assert.ok(seenPids.size > 10, `node processes, shims and pods were found (${seenPids.size})`);

    await stopAdminNode(layout, { removeState: true });

    assert.deepEqual([...seenPids].filter(isAlive), [], 'no process of the instance is left');
    const hostMounts = mountPoints(readFileSync('/proc/self/mountinfo', 'utf8'));
    assert.deepEqual(mountsToUnmount(hostMounts, [layout.root]), [], 'nothing is mounted under the state dir');
    assert.ok(!readdirSync('/var/run/netns').includes(layout.names.netns), 'the node netns is gone');
    const { stdout: links } = await runCommand('ip', ['-o', 'link', 'show']);
    assert.ok(!links.includes(layout.id), 'no link of the instance is left on the host');
    assert.deepEqual(await hostIptablesLinesOf(layout.id), iptablesBefore, 'no iptables chain or rule of ours');
    const cgroups = cgroupMountPoints(readFileSync('/proc/self/mountinfo', 'utf8'));
    const leftCgroups = cgroups.filter((hierarchy) =>
      readdirSync(hierarchy).includes(layout.names.cgroupRoot.slice(1)),
    );
    assert.deepEqual(leftCgroups, [], 'no kubepods cgroup tree is left');
    assert.deepEqual(hostSysctls(), sysctlsBefore, 'the kernel settings the kubelet changed are back');
    assert.ok(!existsSync(layout.root), 'the state dir is gone');
    assert.deepEqual(processesMentioning(registryConfigFile(layout)), [], 'no registry process is left');
    assert.equal(
      existsSync(DEBIAN_REGISTRY_STORAGE),
      registryStorageBefore,
      'no registry storage outside the state dir',
    );
  });
});
