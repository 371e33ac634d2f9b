/**
 * Tenant clusters that run workloads: `kamaji up --workers 2` as a user meets it. Workers are node boxes that join
 * the demo tenant with the real `kubeadm join`; the tenant's API server runs as a pod in the admin cluster and
 * reaches them only through konnectivity. Needs root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { runCommand } from '../../src/cluster/command.ts';
import { HTTP_ECHO_IMAGE, HTTP_ECHO_PORT } from '../../src/cluster/image-references.ts';
import { tenantControlPlaneManifest } from '../../src/cluster/kamaji-install.ts';
import { INOTIFY_FLOORS, sysctlFile } from '../../src/cluster/kubelet.ts';
import { cgroupMountPoints, processesOfInstance } from '../../src/cluster/node-box.ts';
import { processesMentioning, recordedPid } from '../../src/cluster/pid-files.ts';
import { boxPath, type StateLayout, workerLayout } from '../../src/cluster/state.ts';
import { DEMO_TENANT, hostKubeconfigPath } from '../../src/cluster/up.ts';
import { listWorkers } from '../../src/cluster/worker.ts';
import { readSingleKubeconfig } from '../../src/pki/kubeconfig.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const OTHER_TENANT = { name: 'other', namespace: 'e2e-other', nodePort: 31445 } as const;

/** The test workload: http-echo on both workers (one per node), behind a Service. */
function echoManifests() {
  const labels = { app: 'echo' };
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'echo', namespace: 'default' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'DoNotSchedule',
                  labelSelector: { matchLabels: labels },
                },
              ],
              // Always: pulled through the registry as a real node would.
              containers: [
                {
                  name: 'echo',
                  image: HTTP_ECHO_IMAGE,
                  imagePullPolicy: 'Always',
                  ports: [{ containerPort: HTTP_ECHO_PORT }],
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'echo', namespace: 'default' },
        spec: { selector: labels, ports: [{ port: 80, targetPort: HTTP_ECHO_PORT }] },
      },
    ],
  };
}

/** A GET to a tenant's API server with a client certificate (or a bearer token), trusting only `caPem`. */
function tenantGet(
  url: string,
  credentials: { ca: string; cert?: string; key?: string; token?: string },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = credentials.token ? { authorization: `Bearer ${credentials.token}` } : undefined;
    const call = request(
      url,
      { ca: credentials.ca, cert: credentials.cert, key: credentials.key, headers, timeout: 5_000 },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    call.on('timeout', () => call.destroy(new Error(`GET ${url}: no answer`)));
    call.on('error', reject);
    call.end();
  });
}

describe('tenant workers: kamaji up --workers 2', { skip: NEEDS_ROOT }, () => {
  let workDir = '';
  let layout: StateLayout;
  let kubectlPath = '';
  let upSucceeded = false;
  const demoKubeconfig = () => join(workDir, 'demo.kubeconfig');
  const requireUp = () => assert.ok(upSucceeded, 'kamaji up --workers 2 did not succeed (see the first test)');

  async function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<string> {
    return (await runCommand(kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args], { input })).stdout;
  }
  const admin = (...args: string[]) => kubectl(hostKubeconfigPath(layout), args);
  const demo = (...args: string[]) => kubectl(demoKubeconfig(), args);

  async function nodes(): Promise<V1Node[]> {
    return (JSON.parse(await demo('get', 'nodes', '-o', 'json')) as { items: V1Node[] }).items;
  }
  const isReady = (node: V1Node) =>
    node.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false;

  async function waitForTenant(name: string, namespace: string, status: string): Promise<void> {
    await runCommand(kubectlPath, [
      `--kubeconfig=${hostKubeconfigPath(layout)}`,
      'wait',
      `tcp/${name}`,
      '-n',
      namespace,
      `--for=jsonpath={.status.kubernetesResources.version.status}=${status}`,
      '--timeout=180s',
    ]);
  }

  const instance = useKamajiInstance('workers');
  before(async () => {
    ({ workDir, layout, kubectlPath } = instance());
  });

  test('both workers are Ready in the demo tenant, their kubelet certificates issued through CSRs the tenant approved', {
    timeout: 600_000,
  }, async (t) => {
    const started = performance.now();
    const up = await kamaji('up', `--state-dir=${layout.root}`, '--workers=2');
    t.diagnostic(`kamaji up --workers 2 took ${((performance.now() - started) / 1000).toFixed(1)}s`);
    assert.equal(up.code, 0, `kamaji up failed:\n${printed(up)}`);
    const kubeconfig = await kamaji('kubeconfig', DEMO_TENANT.name, `--state-dir=${layout.root}`);
    assert.equal(kubeconfig.code, 0, printed(kubeconfig));
    await writeFile(demoKubeconfig(), kubeconfig.stdout, { mode: 0o600 });

    const joined = await nodes();
    assert.deepEqual(joined.map((node) => node.metadata?.name).sort(), ['demo-worker-1', 'demo-worker-2']);
    assert.ok(joined.every(isReady), 'both Nodes Ready');
    const csrs = JSON.parse(await demo('get', 'csr', '-o', 'json')) as {
      items: { spec: { signerName: string; username: string }; status?: { conditions?: { type: string }[] } }[];
    };
    const kubeletClients = csrs.items.filter(
      (csr) => csr.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet',
    );
    assert.equal(kubeletClients.length, 2, 'one kubelet client CSR per worker');
    for (const csr of kubeletClients) {
      assert.match(csr.spec.username, /^system:bootstrap:[a-z0-9]{6}$/, 'requested with a bootstrap token');
      assert.ok(
        csr.status?.conditions?.some((condition) => condition.type === 'Approved'),
        'approved by the tenant',
      );
    }
    const list = await kamaji('worker', 'list', `--state-dir=${layout.root}`);
    assert.match(list.stdout, /demo-worker-1 +default\/demo +172\.30\.\d+\.64 +10\.244\.\d+\.0\/24 +running/);
    assert.match(list.stdout, /demo-worker-2 +default\/demo +172\.30\.\d+\.65 +10\.244\.\d+\.0\/24 +running/);
    // Root's inotify instances are shared by every node box and tenant: the default 128 ran out at six tenants
    // with six workers (bench/workers.ts), and the last kubelet never became healthy.
    for (const [name, floor] of Object.entries(INOTIFY_FLOORS)) {
      assert.ok(Number(readFileSync(sysctlFile(name), 'utf8')) >= floor, `${name} is at least ${floor}`);
    }
    upSucceeded = true;
  });

  test("a worker's credentials are refused by another tenant: its kubelet certificate and a bootstrap token (denials counted)", {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const manifest = tenantControlPlaneManifest(OTHER_TENANT.name, OTHER_TENANT.namespace, OTHER_TENANT.nodePort);
    await admin('create', 'namespace', OTHER_TENANT.namespace);
    await kubectl(hostKubeconfigPath(layout), ['apply', '-f', '-'], JSON.stringify(manifest));
    await waitForTenant(OTHER_TENANT.name, OTHER_TENANT.namespace, 'Ready');
    const other = await kamaji(
      'kubeconfig',
      OTHER_TENANT.name,
      '-n',
      OTHER_TENANT.namespace,
      `--state-dir=${layout.root}`,
    );
    const otherServer = readSingleKubeconfig(other.stdout);
    assert.ok(otherServer, printed(other));

    const worker = (await listWorkers(layout)).find((w) => w.name === 'demo-worker-1');
    assert.ok(worker);
    const kubelet = readSingleKubeconfig(readFileSync(demoKubeconfig(), 'utf8'));
    // kubelet.conf names its certificate by file: a link to the pair the kubelet rotated into, absolute inside
    // the box, so it is followed by name in the box's directory on the host.
    const pki = boxPath(workerLayout(layout, worker), '/var/lib/kubelet', 'pki');
    const pem = readFileSync(join(pki, basename(readlinkSync(join(pki, 'kubelet-client-current.pem')))), 'utf8');
    const printedJoin = await kamaji('join-command', DEMO_TENANT.name, `--state-dir=${layout.root}`, '--ttl=10m');
    assert.equal(printedJoin.code, 0, printed(printedJoin));
    const token = /--token (\S+)/.exec(printedJoin.stdout)?.[1];
    assert.ok(token, printedJoin.stdout);

    const paths = [
      '/api/v1/nodes',
      '/api/v1/namespaces/kube-system/configmaps',
      '/apis/certificates.k8s.io/v1/certificatesigningrequests',
    ];
    const own = await tenantGet(`${kubelet?.server}/api/v1/nodes/demo-worker-1`, {
      ca: kubelet?.caCertificatePem ?? '',
      cert: pem,
      key: pem,
    });
    assert.equal(own, 200, 'the kubelet certificate works in its own tenant');
    let denials = 0;
    for (const path of paths) {
      const url = `${otherServer.server}${path}`;
      const byCertificate = await tenantGet(url, { ca: otherServer.caCertificatePem ?? '', cert: pem, key: pem });
      const byToken = await tenantGet(url, { ca: otherServer.caCertificatePem ?? '', token });
      assert.equal(byCertificate, 401, `the demo worker's kubelet certificate is refused at ${path}`);
      assert.equal(byToken, 401, `the demo tenant's bootstrap token is refused at ${path}`);
      denials += 2;
    }
    assert.equal(denials, paths.length * 2);
    await admin('delete', 'tcp', OTHER_TENANT.name, '-n', OTHER_TENANT.namespace, '--wait=true', '--timeout=120s');
  });

  test('a Deployment of 2 replicas of the test image lands on both workers; a pod reaches the Service, the pod on the other worker, and names through CoreDNS', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    await kubectl(demoKubeconfig(), ['apply', '-f', '-'], JSON.stringify(echoManifests()));
    await demo('rollout', 'status', 'deployment/echo', '--timeout=120s');
    const pods = (JSON.parse(await demo('get', 'pods', '-l', 'app=echo', '-o', 'json')) as { items: V1Pod[] }).items;
    assert.deepEqual(pods.map((pod) => pod.spec?.nodeName).sort(), ['demo-worker-1', 'demo-worker-2']);
    const [first, second] = pods;
    // Asked of the pod itself (its /get and /dns run inside it), through the API server's pod proxy.
    const inPod = (path: string) =>
      demo('get', '--raw', `/api/v1/namespaces/default/pods/${first?.metadata?.name}:${HTTP_ECHO_PORT}/proxy${path}`);
    assert.equal(
      (await inPod(`/get?url=http://${second?.status?.podIP}:${HTTP_ECHO_PORT}/`)).trim(),
      second?.metadata?.name,
      'the pod on the other worker answers',
    );
    // kube-proxy programs the new Service within moments of its endpoints; until then it refuses connections.
    const names = new Set<string>();
    await waitFor(
      async () => {
        names.add((await inPod('/get?url=http://echo.default.svc.cluster.local/')).trim());
        return names.size === 2 || undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the echo Service to reach both pods' },
    );
    assert.deepEqual([...names].sort(), pods.map((pod) => pod.metadata?.name).sort(), 'the Service reaches both pods');
    assert.equal((await inPod('/dns?name=kubernetes.default.svc.cluster.local')).trim(), '10.96.0.1');
    const service = JSON.parse(await demo('get', 'service', 'echo', '-o', 'json')) as V1Service;
    assert.equal((await inPod('/dns?name=echo.default.svc.cluster.local')).trim(), service.spec?.clusterIP);
  });

  test('kubectl logs and exec work through konnectivity: its dial count rises, and the admin pods cannot dial a kubelet', {
    timeout: 120_000,
  }, async () => {
    requireUp();
    const server = processesOfInstance(layout, await recordedPid(layout, 'mount-holder')).find(
      (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'proxy-server',
    );
    assert.ok(server, 'konnectivity-server runs beside the demo API server');
    /** Node's fetch inside the tenant pod's network namespace (the admin port listens on its loopback only). */
    const inServerPod = async (script: string) =>
      (await runCommand('nsenter', [`--net=/proc/${server}/ns/net`, process.execPath, '-e', script])).stdout.trim();
    const dials = async () => {
      const metrics = await inServerPod(
        "fetch('http://127.0.0.1:8133/metrics').then((r) => r.text()).then(console.log)",
      );
      return Number(/^konnectivity_network_proxy_server_dial_duration_seconds_count (\d+)/m.exec(metrics)?.[1] ?? 0);
    };
    const before = await dials();
    const coredns = JSON.parse(
      await demo('get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=kube-dns', '-o', 'json'),
    ) as { items: V1Pod[] };
    const pod = coredns.items[0]?.metadata?.name ?? '';
    assert.match(await demo('logs', '-n', 'kube-system', pod), /CoreDNS-1\.13\.1/, 'kubectl logs');
    const echo = (await demo('get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
    const exec = await runCommand(
      kubectlPath,
      [`--kubeconfig=${demoKubeconfig()}`, 'exec', echo, '--', '/usr/local/bin/http-echo'],
      { allowFailure: true },
    );
    // A second server in the pod: the port is its running server's, so the command ran inside the pod.
    assert.match(
      `${exec.stdout}${exec.stderr}`,
      /:8080: bind: address already in use/,
      'kubectl exec ran it in the pod',
    );
    const after = await dials();
    assert.ok(after >= before + 2, `konnectivity-server dialled the kubelets (${before} → ${after})`);
    const worker = (await listWorkers(layout))[0];
    assert.ok(worker);
    const kubelet = `${workerLayout(layout, worker).network.nodeAddress}:10250`;
    const direct = await inServerPod(
      `require('node:net').connect(${JSON.stringify(kubelet.split(':')[1])}, ${JSON.stringify(kubelet.split(':')[0])}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`,
    );
    assert.equal(direct, 'ECONNREFUSED', `the tenant pod cannot open ${kubelet} itself`);
  });

  test('removing addons.coreDNS from the spec removes CoreDNS from the tenant; adding it back restores it', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const coreDNSObjects = async () =>
      (
        await demo(
          'get',
          'deployment,service,configmap,serviceaccount',
          '-n',
          'kube-system',
          '-l',
          'kamaji.clastix.io/addon=coredns',
          '-o',
          'name',
        )
      )
        .split('\n')
        .filter(Boolean);
    assert.equal((await coreDNSObjects()).length, 4);
    await admin(
      'patch',
      'tcp',
      DEMO_TENANT.name,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/spec/addons/coreDNS' }]),
    );
    await waitFor(async () => ((await coreDNSObjects()).length === 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'CoreDNS to be removed from the tenant',
    });
    await admin(
      'patch',
      'tcp',
      DEMO_TENANT.name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { addons: { coreDNS: {} } } }),
    );
    // `kubectl wait` fails at once on a Deployment that does not exist yet: wait for the addons phase to create it.
    await waitFor(async () => ((await coreDNSObjects()).length === 4 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'CoreDNS to be back in the tenant',
    });
    await demo('wait', '-n', 'kube-system', '--for=condition=Available', 'deployment/coredns', '--timeout=120s');
    assert.equal((await coreDNSObjects()).length, 4);
  });

  test('scaling the tenant control plane to 0 and back: the workers are Ready again without joining again', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const before = await nodes();
    const workers = await listWorkers(layout);
    const kubeletConfs = workers.map(
      (worker) => statSync(boxPath(workerLayout(layout, worker), '/etc/kubernetes', 'kubelet.conf')).mtimeMs,
    );
    const patch = (replicas: number) =>
      admin(
        'patch',
        'tcp',
        DEMO_TENANT.name,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { controlPlane: { deployment: { replicas } } } }),
      );
    await patch(0);
    await waitForTenant(DEMO_TENANT.name, DEMO_TENANT.namespace, 'Sleeping');
    await patch(1);
    await waitForTenant(DEMO_TENANT.name, DEMO_TENANT.namespace, 'Ready');
    const after = await waitFor(
      async () => {
        const current = await nodes();
        return current.length === 2 && current.every(isReady) ? current : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, description: 'both workers Ready again' },
    );
    const uids = (list: V1Node[]) => list.map((node) => node.metadata?.uid).sort();
    assert.deepEqual(uids(after), uids(before), 'the same Node objects: nobody joined again');
    const kubeletConfsAfter = workers.map(
      (worker) => statSync(boxPath(workerLayout(layout, worker), '/etc/kubernetes', 'kubelet.conf')).mtimeMs,
    );
    assert.deepEqual(kubeletConfsAfter, kubeletConfs, 'the kubelet kubeconfigs were not rewritten');
  });

  test('worker remove drains and deletes the Node; down leaves nothing of the workers', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const workers = (await listWorkers(layout)).map((worker) => workerLayout(layout, worker));
    const holders = await Promise.all(workers.map((box) => recordedPid(box, 'mount-holder')));
    const processes = workers.flatMap((box, index) => processesOfInstance(box, holders[index]));
    assert.ok(processes.length > 0, 'the workers run');

    const removed = await kamaji('worker', 'remove', 'demo-worker-2', `--state-dir=${layout.root}`);
    assert.equal(removed.code, 0, printed(removed));
    assert.deepEqual(
      (await nodes()).map((node) => node.metadata?.name),
      ['demo-worker-1'],
    );
    const missing = await kamaji('worker', 'remove', 'demo-worker-2', `--state-dir=${layout.root}`);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no worker named demo-worker-2 .*kamaji worker list/);

    const down = await kamaji('down', `--state-dir=${layout.root}`);
    assert.equal(down.code, 0, printed(down));
    assert.deepEqual(processes.filter(isAlive), [], 'no worker process is left');
    assert.deepEqual(processesMentioning(join(layout.root, 'workers')), []);
    const { stdout: netns } = await runCommand('ip', ['netns', 'list']);
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    for (const box of workers) {
      assert.ok(!netns.includes(box.names.netns), `${box.names.netns} is gone`);
      const left = cgroupMountPoints(mountinfo).filter((hierarchy) =>
        existsSync(join(hierarchy, box.names.cgroupRoot)),
      );
      assert.deepEqual(left, [], `no ${box.names.cgroupRoot} cgroup is left`);
      assert.ok(!mountinfo.includes(box.root), `nothing mounted under ${box.root}`);
    }
  });
});
