/**
 * Acceptance of charts/kamaji on a real cluster: `kamaji up` (which installs Kamaji with the chart, as a user
 * would on any cluster) in a fresh state dir, then the release checked, upgraded to a new image tag and
 * uninstalled with the toolchain's helm, and the instance taken down with nothing left.
 * Run as root: node_modules/.bin/node --test test/e2e/helm.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { V1ClusterRole, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { CHART_DIR } from '../../src/cluster/helm.ts';
import {
  KAMAJI_NAMESPACE,
  KAMAJI_RELEASE,
  MANAGER_POD_SELECTOR,
  tenantControlPlaneManifest,
} from '../../src/cluster/kamaji-install.ts';
import { processesOfInstance } from '../../src/cluster/node-box.ts';
import { operatorImageTag, publishOperatorImage } from '../../src/cluster/operator-image.ts';
import { processesMentioning, processStartTime, recordedPid } from '../../src/cluster/pid-files.ts';
import type { StateLayout } from '../../src/cluster/state.ts';
import { DEMO_TENANT, hostKubeconfigPath, UP_MANAGER_REPLICAS, upChartValues } from '../../src/cluster/up.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { LABEL_TENANT } from '../../src/tenant/names.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { waitFor } from '../../src/util/wait.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const SERVICE_ACCOUNT = `system:serviceaccount:${KAMAJI_NAMESPACE}:${KAMAJI_RELEASE}`;

/** What the manager's ServiceAccount must not do: `kubectl auth can-i` arguments, each answered "no". */
const DENIED: readonly (readonly string[])[] = [
  ['delete', 'namespaces'],
  ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
  ['bind', 'clusterroles.rbac.authorization.k8s.io'],
  ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
  ['impersonate', 'users'],
  ['create', 'pods', '-n', 'default'],
  ['create', 'pods/exec', '-n', 'default'],
  ['create', 'daemonsets.apps', '-n', 'default'],
  ['update', 'secrets', '-n', 'default'],
  ['delete', 'nodes'],
  ['patch', 'customresourcedefinitions.apiextensions.k8s.io'],
  ['create', 'tenantcontrolplanes.kamaji.clastix.io', '-n', 'default'],
  ['delete', 'tenantcontrolplanes.kamaji.clastix.io', '-n', 'default'],
  ['delete', 'datastores.kamaji.clastix.io'],
  ['update', 'leases.coordination.k8s.io', '-n', 'kube-system'],
  ['update', 'leases.coordination.k8s.io/kube-scheduler', '-n', KAMAJI_NAMESPACE],
  ['patch', 'validatingwebhookconfigurations.admissionregistration.k8s.io'],
];
/** And what it must do, so that the denials above are not those of a ServiceAccount that can do nothing. */
const ALLOWED: readonly (readonly string[])[] = [
  ['patch', 'tenantcontrolplanes.kamaji.clastix.io', '--subresource=status', '-n', 'default'],
  ['update', 'leases.coordination.k8s.io/kamaji-manager', '-n', KAMAJI_NAMESPACE],
  ['create', 'events', '-n', 'default'],
  ['patch', 'deployments.apps', '-n', 'default'],
  ['list', 'nodes'],
  ['patch', 'validatingwebhookconfigurations.admissionregistration.k8s.io/kamaji-validating-webhook-configuration'],
  ['update', 'secrets/kamaji-webhook-certificate', '-n', KAMAJI_NAMESPACE],
];

/** The sum of a metric's series whose labels start with `labels` (e.g. `controller="x"`), from /metrics text. */
function metricSum(exposition: string, name: string, labels: string): number {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{${labels}`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('charts/kamaji on the local admin cluster: install, least privilege, upgrade, uninstall', {
  skip: NEEDS_ROOT,
}, () => {
  let layout: StateLayout;
  let kubectlPath = '';
  let helmPath = '';
  let upSucceeded = false;
  const requireUp = () => assert.ok(upSucceeded, 'kamaji up did not succeed (see the first test)');

  async function kubectl(...args: string[]): Promise<string> {
    return (await runCommand(kubectlPath, [`--kubeconfig=${hostKubeconfigPath(layout)}`, ...args])).stdout;
  }
  async function getJson<T>(...args: string[]): Promise<T> {
    return JSON.parse(await kubectl('get', ...args, '-o', 'json')) as T;
  }
  const managerPods = async () =>
    (await getJson<{ items: V1Pod[] }>('pods', '-n', KAMAJI_NAMESPACE, '-l', MANAGER_POD_SELECTOR)).items;
  const tenantPods = async () =>
    (await getJson<{ items: V1Pod[] }>('pods', '-n', DEMO_TENANT.namespace, '-l', LABEL_TENANT)).items;
  const leaseHolder = async () =>
    (await getJson<{ spec: { holderIdentity?: string } }>('lease', 'kamaji-manager', '-n', KAMAJI_NAMESPACE)).spec
      .holderIdentity ?? '';
  /** A pod's /metrics, through the API server's pod proxy (pod addresses are inside the node's namespace). */
  const podMetrics = (pod: string) =>
    kubectl('get', '--raw', `/api/v1/namespaces/${KAMAJI_NAMESPACE}/pods/${pod}:8080/proxy/metrics`);
  const isReady = (pod: V1Pod) =>
    pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false;

  /** The one leader: the pod named by the Lease (identity `<hostname>_<pid>_<random>`), whose gauge alone is 1. */
  async function oneLeader(pods: readonly V1Pod[]): Promise<string> {
    const names = pods.map((pod) => pod.metadata?.name ?? '');
    const holder = (await leaseHolder()).split('_')[0] ?? '';
    assert.ok(names.includes(holder), `the Lease holder ${holder} is one of the manager pods ${names.join(', ')}`);
    const leading = [];
    for (const name of names) {
      if (metricSum(await podMetrics(name), 'leader_election_master_status', 'name="kamaji-manager"') === 1) {
        leading.push(name);
      }
    }
    assert.deepEqual(leading, [holder], 'exactly one pod reports itself leader, the Lease holder');
    return holder;
  }

  const instance = useKamajiInstance('helm');
  before(async () => {
    ({ layout, kubectlPath } = instance());
    helmPath = (await ensureComponent('helm')).path;
  });

  test('helm lint is clean', async () => {
    const lint = await runCommand(helmPath, ['lint', '--strict', CHART_DIR]);
    assert.match(lint.stdout, /0 chart\(s\) failed/);
    assert.doesNotMatch(lint.stdout, /\[(WARNING|ERROR)\]/);
  });

  test("kamaji up installs the release: the manager pods Ready under the chart's ServiceAccount, one leader, a TCP Ready", {
    timeout: 600_000,
  }, async (t) => {
    const started = performance.now();
    const up = await kamaji('up', `--state-dir=${layout.root}`, '--workers=0');
    t.diagnostic(`kamaji up --workers=0 took ${((performance.now() - started) / 1000).toFixed(1)}s`);
    assert.equal(up.code, 0, `kamaji up failed:\n${printed(up)}`);
    const manager = /Kamaji manager pods .*, Ready \((\d+\.\d)s/.exec(up.stderr)?.[1];
    t.diagnostic(`the manager step (image push, helm, ${UP_MANAGER_REPLICAS} pods Ready) took ${manager}s`);
    upSucceeded = true;

    const status = JSON.parse(
      (
        await runCommand(helmPath, [
          'status',
          KAMAJI_RELEASE,
          '-n',
          KAMAJI_NAMESPACE,
          '--kubeconfig',
          hostKubeconfigPath(layout),
          '-o',
          'json',
        ])
      ).stdout,
    ) as { info: { status: string } };
    assert.equal(status.info.status, 'deployed');
    const pods = await managerPods();
    assert.equal(pods.length, UP_MANAGER_REPLICAS);
    assert.ok(pods.every(isReady), 'every manager pod is Ready');
    assert.deepEqual(
      [...new Set(pods.map((pod) => pod.spec?.serviceAccountName))],
      [KAMAJI_RELEASE],
      "the manager runs as the chart's ServiceAccount",
    );
    assert.ok(
      !existsSync(join(layout.dirs.pids, 'manager.pid')) && (await recordedPid(layout, 'manager')) === undefined,
      'no manager host process',
    );
    await oneLeader(pods);
    const demo = await getJson<TenantControlPlane>('tcp', DEMO_TENANT.name, '-n', DEMO_TENANT.namespace);
    assert.equal(demo.status?.kubernetesResources?.version?.status, 'Ready');
  });

  test("the chart's webhooks answer through their Service: a TenantControlPlane naming a missing DataStore is refused", async () => {
    requireUp();
    const manifest = tenantControlPlaneManifest('refused', DEMO_TENANT.namespace, 31450);
    const bad = { ...manifest, spec: { ...manifest.spec, dataStore: 'missing' } };
    const apply = await runCommand(kubectlPath, [`--kubeconfig=${hostKubeconfigPath(layout)}`, 'apply', '-f', '-'], {
      input: JSON.stringify(bad),
      allowFailure: true,
    });
    assert.notEqual(apply.code, 0, `refused: ${apply.stdout}`);
    // Only the webhook knows which DataStores exist: the schema cannot say this.
    assert.match(apply.stderr, /is invalid: spec\.dataStore: DataStore missing does not exist/);
  });

  test("the manager's ServiceAccount is denied what the manager does not need; the ClusterRole has no wildcard", async () => {
    requireUp();
    const canI = async (args: readonly string[]) => {
      const result = await runCommand(
        kubectlPath,
        [`--kubeconfig=${hostKubeconfigPath(layout)}`, 'auth', 'can-i', ...args, `--as=${SERVICE_ACCOUNT}`],
        { allowFailure: true },
      );
      return result.stdout.trim();
    };
    const answers = await Promise.all(DENIED.map(async (args) => [args.join(' '), await canI(args)] as const));
    const denials = answers.filter(([, answer]) => answer === 'no');
    assert.deepEqual(
      answers.filter(([, answer]) => answer !== 'no'),
      [],
      'each of these is denied',
    );
    assert.equal(denials.length, DENIED.length, `${denials.length} denials counted`);
    for (const args of ALLOWED) assert.equal(await canI(args), 'yes', `allowed: ${args.join(' ')}`);

    const roles = await getJson<{ items: V1ClusterRole[] }>(
      'clusterroles',
      '-l',
      `app.kubernetes.io/instance=${KAMAJI_RELEASE}`,
    );
    assert.equal(roles.items.length, 1, 'one ClusterRole');
    const entries = (roles.items[0]?.rules ?? []).flatMap((rule) => [
      ...(rule.apiGroups ?? []),
      ...(rule.resources ?? []),
      ...(rule.verbs ?? []),
      ...(rule.resourceNames ?? []),
    ]);
    assert.ok(entries.length > 0);
    assert.deepEqual(
      entries.filter((entry) => entry.includes('*')),
      [],
      'no wildcard in the ClusterRole',
    );
  });

  test('helm upgrade to a new image tag rolls the manager and restarts no tenant pod nor changes its Deployment', {
    timeout: 300_000,
  }, async (t) => {
    requireUp();
    const newTag = `${operatorImageTag()}-upgrade`;
    await publishOperatorImage(layout, { tag: newTag });
    const oldPods = (await managerPods()).map((pod) => pod.metadata?.name);
    const tenantState = async () => ({
      pods: (await tenantPods()).map((pod) => ({
        uid: pod.metadata?.uid,
        restarts: (pod.status?.containerStatuses ?? []).map(
          (container) => `${container.name}=${container.restartCount}`,
        ),
      })),
      generations: (
        await getJson<{ items: V1Deployment[] }>('deployments', '-n', DEMO_TENANT.namespace, '-l', LABEL_TENANT)
      ).items.map((deployment) => `${deployment.metadata?.name}=${deployment.metadata?.generation}`),
    });
    const before = await tenantState();
    assert.ok(before.pods.length > 0 && before.generations.length > 0, 'the demo tenant has pods and a Deployment');

    const started = performance.now();
    const upgrade = await kamaji(
      'install',
      `--kubeconfig=${hostKubeconfigPath(layout)}`,
      ...upChartValues(newTag).flatMap((value) => ['--set', value]),
    );
    assert.equal(upgrade.code, 0, printed(upgrade));
    await kubectl('rollout', 'status', `deployment/${KAMAJI_RELEASE}`, '-n', KAMAJI_NAMESPACE, '--timeout=180s');
    const newPods = await waitFor(
      async () => {
        const pods = await managerPods();
        const settled = pods.length === UP_MANAGER_REPLICAS && pods.every(isReady);
        return settled && pods.every((pod) => !oldPods.includes(pod.metadata?.name)) ? pods : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'only new manager pods, all Ready' },
    );
    t.diagnostic(
      `rollout of ${UP_MANAGER_REPLICAS} manager pods took ${((performance.now() - started) / 1000).toFixed(1)}s`,
    );
    for (const pod of newPods) assert.match(pod.spec?.containers[0]?.image ?? '', new RegExp(`:${newTag}$`));
    // The new leader has reconciled the tenant (its counter moved) before the tenant is compared.
    const leader = await waitFor(
      async () => {
        const holder = await oneLeader(newPods);
        const metrics = await podMetrics(holder);
        const reconciles = metricSum(metrics, 'controller_runtime_reconcile_total', 'controller="tenantcontrolplane"');
        return reconciles > 0 ? holder : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, description: 'a new leader that has reconciled the demo tenant' },
    );
    t.diagnostic(`new leader ${leader}`);
    assert.deepEqual(await tenantState(), before, 'tenant pods, restarts and Deployment generations unchanged');
  });

  test('helm uninstall removes the manager and its RBAC but leaves the CRDs and the TenantControlPlanes running', {
    timeout: 180_000,
  }, async () => {
    requireUp();
    const podsBefore = (await tenantPods()).map((pod) => pod.metadata?.uid).sort();
    await runCommand(helmPath, [
      'uninstall',
      KAMAJI_RELEASE,
      '-n',
      KAMAJI_NAMESPACE,
      '--kubeconfig',
      hostKubeconfigPath(layout),
      '--wait',
    ]);
    await waitFor(async () => ((await managerPods()).length === 0 ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'the manager pods to go',
    });
    const crds = await getJson<{ items: { metadata: { name: string } }[] }>('crds');
    assert.deepEqual(
      crds.items
        .map((crd) => crd.metadata.name)
        .filter((name) => name.endsWith('.kamaji.clastix.io'))
        .sort(),
      [
        'datastores.kamaji.clastix.io',
        'kubeconfiggenerators.kamaji.clastix.io',
        'tenantcontrolplanes.kamaji.clastix.io',
      ],
    );
    const demo = await getJson<TenantControlPlane>('tcp', DEMO_TENANT.name, '-n', DEMO_TENANT.namespace);
    assert.equal(demo.metadata.deletionTimestamp, undefined, 'the TCP stays');
    assert.equal(demo.status?.kubernetesResources?.version?.status, 'Ready');
    assert.deepEqual((await tenantPods()).map((pod) => pod.metadata?.uid).sort(), podsBefore, 'its pods run on');
    const roles = await getJson<{ items: unknown[] }>(
      'clusterroles',
      '-l',
      `app.kubernetes.io/instance=${KAMAJI_RELEASE}`,
    );
    assert.equal(roles.items.length, 0, 'the ClusterRole went with the release');
  });

  test('down --purge leaves no process of the instance, no network namespace and no state dir', {
    timeout: 300_000,
  }, async () => {
    const holder = await recordedPid(layout, 'mount-holder');
    const ours = [...new Set([...processesOfInstance(layout, holder), ...processesMentioning(layout.root)])].map(
      (pid) => ({ pid, startTime: processStartTime(pid) }),
    );
    const down = await kamaji('down', `--state-dir=${layout.root}`, '--purge');
    assert.equal(down.code, 0, printed(down));
    const left = ours.filter(({ pid, startTime }) => isAlive(pid) && processStartTime(pid) === startTime);
    assert.deepEqual(left, [], 'no process of the instance is left');
    assert.deepEqual(processesMentioning(layout.root), []);
    const { stdout: netns } = await runCommand('ip', ['netns', 'list']);
    assert.ok(!netns.includes(layout.names.netns), `network namespace ${layout.names.netns} is gone`);
    assert.ok(!existsSync(layout.root), 'the state dir is gone');
  });
});
