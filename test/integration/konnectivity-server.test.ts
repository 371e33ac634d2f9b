import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { EtcdDriver } from '../../src/datastore/etcd/driver.ts';
import { issueCertificate } from '../../src/pki/certificates.ts';
import { readSingleKubeconfig } from '../../src/pki/kubeconfig.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import type { TenantContext } from '../../src/tenant/context.ts';
import { objectNames } from '../../src/tenant/names.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from '../../src/tenant/steps/certificates.ts';
import { desiredDatastoreSecrets } from '../../src/tenant/steps/datastore.ts';
import { desiredDeployment } from '../../src/tenant/steps/deployment.ts';
import {
  desiredKonnectivitySecrets,
  EGRESS_SELECTOR_KEY,
  egressSelectorConfiguration,
  KONNECTIVITY_AGENT_NAMESPACE,
  KONNECTIVITY_AGENT_SERVICE_ACCOUNT,
  KONNECTIVITY_SERVER_USER,
  KONNECTIVITY_UDS_DIR,
} from '../../src/tenant/steps/konnectivity.ts';
import { desiredKubeconfigSecrets } from '../../src/tenant/steps/kubeconfigs.ts';
import { ensureComponents } from '../../src/toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { waitFor } from '../../src/util/wait.ts';
import { useControlPlane } from '../support/control-plane.ts';
import { sampleContext } from '../support/tenant-context.ts';
import { materializePodFiles } from '../support/tenant-pod.ts';

/**
 * The Konnectivity path of a tenant with real processes, from the builders' output only: kube-apiserver with the
 * egress selector configuration, konnectivity-server with the sidecar's arguments and the Secrets' files, and a
 * konnectivity-agent as the tenant side runs it (the tenant CA, a token of audience system:konnectivity-server for
 * kube-system/konnectivity-agent). A request of the API server to a node ("kubelet" = a small HTTPS server on
 * loopback) must then go through the tunnel.
 */

async function buildTenant(context: TenantContext, etcdCa: { certificatePem: string; privateKeyPem: string }) {
  const pki = await desiredCertificateSecrets(context, new Map(), { rotate: false });
  const caData = pki.find((secret) => secret.name === objectNames(context.name).caSecret)?.data ?? {};
  const ca = { certificatePem: caData['ca.crt'] ?? '', privateKeyPem: caData['ca.key'] ?? '' };
  const kubeconfigs = await desiredKubeconfigSecrets(context, ca, new Map(), { rotate: false });
  const konnectivity = await desiredKonnectivitySecrets(context, ca, new Map(), { rotate: false });
  const username = `${context.name}_user`;
  const datastore = await desiredDatastoreSecrets({
    context,
    credentials: { kind: 'etcd', datastoreCa: etcdCa },
    username,
    existing: new Map(),
    options: { rotate: false },
  });
  const all: DesiredSecret[] = [...pki, ...kubeconfigs, ...konnectivity, ...datastore];
  const secrets = new Map<string, SecretText>(all.map((secret) => [secret.name, secret.data]));
  return { ca, secrets, username, deployment: desiredDeployment({ context, podTemplateChecksum: 'test' }) };
}

/** A container's arguments with the pod's paths moved under `root`, and some flags replaced (ports). */
function containerArgs(deployment: V1Deployment, name: string, root: string, replace: Record<string, string> = {}) {
  const container = deployment.spec?.template.spec?.containers.find((candidate) => candidate.name === name);
  assert.ok(container?.args, `container ${name} has arguments`);
  return container.args.map((arg) => {
    const flag = arg.replace(/^--([^=]+)=.*$/s, '$1');
    if (flag in replace) return `--${flag}=${replace[flag]}`;
    return arg
      .replaceAll('=/etc/kubernetes', `=${root}/etc/kubernetes`)
      .replaceAll(`=${KONNECTIVITY_UDS_DIR}`, `=${root}${KONNECTIVITY_UDS_DIR}`);
  });
}

/** Prometheus text: the sum of the samples of one metric (any labels), or undefined when absent. */
function metric(text: string, name: string): number | undefined {
  const samples = text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
  return samples.length === 0 ? undefined : samples.reduce((sum, value) => sum + value, 0);
}

describe('konnectivity-server beside the tenant API server carries its traffic to nodes', () => {
  const harness = useControlPlane();
  const supervisor = new Supervisor();
  let root = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kamaji-knp-'));
  });

  after(async () => {
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    await rm(root, { recursive: true, force: true });
  });

  test('an agent with a tenant token registers, and pod logs from a loopback kubelet come through it', async () => {
    const binaries = await ensureComponents(['kube-apiserver', 'konnectivity-server', 'konnectivity-agent']);
    const { etcd } = harness();
    const [port, agentPort, adminPort, healthPort] = (await Promise.all(
      Array.from({ length: 4 }, () => freePort()),
    )) as [number, number, number, number];
    const context = sampleContext({
      name: 'kappa',
      version: KUBERNETES_VERSION,
      endpointAddress: '127.0.0.1',
      advertiseAddress: '127.0.0.1',
      port,
      endpointPort: port,
      datastore: { driver: 'etcd', endpoints: [etcd.endpoint], schema: 'tenants_kappa' },
      konnectivity: { image: 'registry.k8s.io/kas-network-proxy/proxy-server', port: agentPort, extraArgs: ['--v=2'] },
    });
    const tenant = await buildTenant(context, etcd.ca);
    const driver = new EtcdDriver(etcd.root);
    try {
      const owner = { uid: 'kappa-uid', namespace: 'tenants', name: 'kappa' };
      assert.equal(await driver.ensureTenant({ schema: 'tenants_kappa', username: tenant.username }, owner), undefined);
    } finally {
      driver.close();
    }
    await materializePodFiles(tenant.deployment, tenant.secrets, root);
    // What the kubelet would do for the two volumes that are no Secret: the ConfigMap (its socket path moved under
    // root, as the arguments are) and the shared emptyDir.
    const egressDir = join(root, 'etc/kubernetes/konnectivity/configurations');
    await mkdir(egressDir, { recursive: true });
    const socket = join(root, KONNECTIVITY_UDS_DIR, 'konnectivity-server.socket');
    await writeFile(join(egressDir, EGRESS_SELECTOR_KEY), egressSelectorConfiguration(socket));
    await mkdir(join(root, KONNECTIVITY_UDS_DIR), { recursive: true });

    const apiserverArgs = containerArgs(tenant.deployment, 'kube-apiserver', root);
    assert.ok(apiserverArgs.some((arg) => arg.startsWith('--egress-selector-config-file=')));
    const serverArgs = containerArgs(tenant.deployment, 'konnectivity-server', root, {
      'admin-port': String(adminPort),
      'health-port': String(healthPort),
    });
    const log = (name: string) => join(root, `${name}.log`);
    const server = supervisor.start({
      name: 'konnectivity-server',
      command: binaries.get('konnectivity-server')?.path ?? '',
      args: serverArgs,
      logFile: log('konnectivity-server'),
    });
    supervisor.start({
      name: 'kube-apiserver',
      command: binaries.get('kube-apiserver')?.path ?? '',
      args: apiserverArgs,
      logFile: log('kube-apiserver'),
    });

    // The tenant API as its admin, over TLS verified with the tenant CA.
    const admin = readSingleKubeconfig(
      tenant.secrets.get(objectNames('kappa').adminKubeconfigSecret)?.['super-admin.conf'] ?? '',
    );
    assert.ok(admin);
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const url = new URL(path, admin.server);
        const req = request(
          url,
          {
            method,
            ca: tenant.ca.certificatePem,
            cert: admin.clientCertificatePem,
            key: admin.clientKeyPem,
            headers: body === undefined ? {} : { 'content-type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const ok = async (method: string, path: string, body?: unknown) => {
      const answer = await call(method, path, body);
      if (answer.status >= 300 && answer.status !== 409)
        throw new Error(`${method} ${path}: ${answer.status} ${answer.text}`);
      return answer.text;
    };
    const processDied = async () => (server.hasExited() ? 'konnectivity-server exited' : undefined);
    await waitFor(async () => ((await call('GET', '/readyz')).status === 200 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: 'the tenant API server to be ready',
    });

    // What the tenant side provides (the addon phase, not built here): the agent's service account and the
    // server's right to review its tokens.
    await waitFor(async () => ok('GET', `/api/v1/namespaces/${KONNECTIVITY_AGENT_NAMESPACE}`), {
      timeoutMs: 30_000,
      description: 'the kube-system namespace',
    });
    await ok('POST', `/api/v1/namespaces/${KONNECTIVITY_AGENT_NAMESPACE}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: KONNECTIVITY_AGENT_SERVICE_ACCOUNT },
    });
    await ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:konnectivity-server' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: KONNECTIVITY_SERVER_USER }],
    });
    const writeToken = async (audience: string, file: string) => {
      const answer = JSON.parse(
        await ok(
          'POST',
          `/api/v1/namespaces/${KONNECTIVITY_AGENT_NAMESPACE}/serviceaccounts/${KONNECTIVITY_AGENT_SERVICE_ACCOUNT}/token`,
          {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { audiences: [audience], expirationSeconds: 3600 },
          },
        ),
      ) as { status: { token: string } };
      await writeFile(file, answer.status.token, { mode: 0o600 });
      return file;
    };
    const caFile = join(root, 'etc/kubernetes/pki/ca.crt');
    const startAgent = async (name: string, tokenFile: string) =>
      supervisor.start({
        name,
        command: binaries.get('konnectivity-agent')?.path ?? '',
        args: [
          '--logtostderr=true',
          `--ca-cert=${caFile}`,
          '--proxy-server-host=127.0.0.1',
          `--proxy-server-port=${agentPort}`,
          `--admin-server-port=${await freePort()}`,
          `--health-server-port=${await freePort()}`,
          `--service-account-token-path=${tokenFile}`,
          '--agent-identifiers=ipv4=127.0.0.1',
        ],
        logFile: log(name),
      });
    const metrics = async () => (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();

    // A token of the right service account but for the tenant API server's audience: refused.
    const impostor = await startAgent(
      'agent-wrong-audience',
      await writeToken('https://kubernetes.default.svc.cluster.local', join(root, 'wrong-token')),
    );
    await waitFor(
      async () =>
        /Client authentication failed.*is invalid for the target audiences \[\\"system:konnectivity-server\\"\]/.test(
          await readFile(log('konnectivity-server'), 'utf8'),
        )
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 250, description: 'konnectivity-server to refuse the wrong-audience token' },
    );
    assert.equal(metric(await metrics(), 'konnectivity_network_proxy_server_ready_backends') ?? 0, 0);
    await supervisor.stop(impostor);

    const agent = await startAgent(
      'konnectivity-agent',
      await writeToken(KONNECTIVITY_SERVER_USER, join(root, 'agent-token')),
    );
    await waitFor(
      async () =>
        (metric(await metrics(), 'konnectivity_network_proxy_server_ready_backends') ?? 0) >= 1 ? true : undefined,
      {
        timeoutMs: 30_000,
        intervalMs: 250,
        description: 'the agent to register with konnectivity-server (ready_backends ≥ 1)',
        giveUp: async () => (await processDied()) ?? (agent.hasExited() ? 'konnectivity-agent exited' : undefined),
      },
    );

    // A "kubelet" on loopback: the API server reaches nodes only through the egress selector, so only through the
    // tunnel (with the agent as the one dialling it).
    const kubeletTls = await issueCertificate(tenant.ca, {
      commonName: 'kubelet',
      subjectAltNames: ['127.0.0.1'],
      usages: ['serverAuth'],
      validityDays: 1,
    });
    const seen: string[] = [];
    const kubelet = createServer({ cert: kubeletTls.certificatePem, key: kubeletTls.privateKeyPem }, (req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from the kubelet');
    });
    await new Promise<void>((resolve) => kubelet.listen(0, '127.0.0.1', resolve));
    try {
      const kubeletPort = (kubelet.address() as AddressInfo).port;
      await ok('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-1' } });
      const node = JSON.parse(await ok('GET', '/api/v1/nodes/worker-1')) as Record<string, unknown>;
      await ok('PUT', '/api/v1/nodes/worker-1/status', {
        ...node,
        status: {
          addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
          daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
        },
      });
      // The node proxy refuses loopback node addresses; pod logs do not, and take the same egress path.
      // (No controller-manager runs here to create the default service account that admission looks up.)
      await ok('POST', '/api/v1/namespaces/default/serviceaccounts', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default' },
      });
      await ok('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'logger' },
        spec: { nodeName: 'worker-1', containers: [{ name: 'main', image: 'example.invalid/none' }] },
      });
      const dialsBefore = metric(await metrics(), 'konnectivity_network_proxy_server_dial_duration_seconds_count') ?? 0;
      const answer = await call('GET', '/api/v1/namespaces/default/pods/logger/log?container=main');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.text, 'hello from the kubelet');
      assert.deepEqual(seen, ['/containerLogs/default/logger/main']);
      const dialsAfter = metric(await metrics(), 'konnectivity_network_proxy_server_dial_duration_seconds_count') ?? 0;
      assert.ok(dialsAfter > dialsBefore, `konnectivity-server dialled for it (${dialsBefore} → ${dialsAfter})`);

      // Without the agent, the same request fails: nothing else carries the API server's traffic to nodes.
      await supervisor.stop(agent);
      await waitFor(
        async () =>
          (metric(await metrics(), 'konnectivity_network_proxy_server_ready_backends') ?? 0) === 0 ? true : undefined,
        { timeoutMs: 30_000, intervalMs: 250, description: 'the agent to be gone from konnectivity-server' },
      );
      const without = await call('GET', '/api/v1/namespaces/default/pods/logger/log?container=main');
      assert.notEqual(without.status, 200, without.text);
      assert.deepEqual(seen, ['/containerLogs/default/logger/main'], 'the kubelet saw nothing without the tunnel');
    } finally {
      await new Promise<void>((resolve) => kubelet.close(() => resolve()));
    }
  });
});
