/**
 * charts/kamaji rendered by the toolchain's real helm: lint, the manager's command line as the contract states it,
 * RBAC without a wildcard and with each rule's reason, the Grafana dashboard over the metrics the manager serves,
 * and the plain manifest. Run: node --test test/integration/chart.test.ts
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1ClusterRole, V1Deployment, V1PolicyRule, V1Service } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, helm, helmTemplateArgs, plainManifest } from '../../src/cluster/helm.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';

const RELEASE = { name: 'kamaji', namespace: 'kamaji-system' };

/** The metric names the contract fixes (issue 10): what the dashboard may query, all of them. */
const METRICS = [
  'controller_runtime_reconcile_total',
  'controller_runtime_reconcile_errors_total',
  'controller_runtime_reconcile_time_seconds',
  'workqueue_depth',
  'workqueue_adds_total',
  'workqueue_queue_duration_seconds',
  'workqueue_work_duration_seconds',
  'workqueue_retries_total',
  'rest_client_requests_total',
  'leader_election_master_status',
  'kamaji_tenantcontrolplanes',
  'kamaji_tenant_step_duration_seconds',
  'kamaji_datastore_operations_total',
  'kamaji_datastore_operation_errors_total',
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
];

interface Rendered {
  text: string;
  kind: string;
  name: string;
  object: Record<string, unknown>;
}

async function render(...values: string[]): Promise<Rendered[]> {
  const output = await helm(helmTemplateArgs({ ...RELEASE, values }));
  return output
    .split(/^---$/m)
    .map((text) => ({ text, object: parseAllDocuments(text)[0]?.toJS() as Record<string, unknown> | undefined }))
    .filter((document): document is { text: string; object: Record<string, unknown> } => Boolean(document.object))
    .map(({ text, object }) => ({
      text,
      object,
      kind: String(object.kind),
      name: String((object.metadata as { name?: string }).name),
    }));
}

function find<T>(documents: readonly Rendered[], kind: string, name: string): T {
  const found = documents.find((document) => document.kind === kind && document.name === name);
  assert.ok(found, `${kind} ${name} is rendered (have: ${documents.map((d) => `${d.kind}/${d.name}`).join(', ')})`);
  return found.object as T;
}

function managerArgs(documents: readonly Rendered[]): string[] {
  return find<V1Deployment>(documents, 'Deployment', 'kamaji').spec?.template.spec?.containers[0]?.args ?? [];
}

describe('charts/kamaji', () => {
  test('helm lint finds nothing to fix, in strict mode too', async () => {
    const output = await helm(['lint', '--strict', CHART_DIR]);
    assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(output, /\[(WARNING|ERROR)\]/);
  });

  test("the manager's command line is the contract's; the webhook flags only with webhooks enabled", async () => {
    assert.deepEqual(managerArgs(await render()), [
      'manager',
      '--datastore=default',
      '--leader-elect',
      '--leader-election-namespace=kamaji-system',
      '--metrics-address=:8080',
      '--probe-address=$(POD_IP):8081',
      '--webhook-address=:9443',
      '--webhook-service=kamaji-system/kamaji-webhook-service',
      '--webhook-secret=kamaji-system/kamaji-webhook-certificate',
      '--validating-webhook-configuration=kamaji-validating-webhook-configuration',
      '--mutating-webhook-configuration=kamaji-mutating-webhook-configuration',
      '--log-format=text',
    ]);
    const without = await render(
      'webhooks.enabled=false',
      'defaultDatastoreName=gold',
      'logFormat=json',
      'extraArgs[0]=--max-concurrent-reconciles=3',
    );
    assert.deepEqual(managerArgs(without), [
      'manager',
      '--datastore=gold',
      '--leader-elect',
      '--leader-election-namespace=kamaji-system',
      '--metrics-address=:8080',
      '--probe-address=$(POD_IP):8081',
      '--log-format=json',
      '--max-concurrent-reconciles=3',
    ]);
    assert.ok(!without.some((document) => document.name === 'kamaji-webhook-service'), 'no webhook Service');
  });

  test('with cert-manager: an Issuer and a Certificate, the certificate mounted for --webhook-cert-dir, CA injection asked for', async () => {
    const documents = await render('webhooks.certManager.enabled=true', 'webhooks.annotations.team=platform');
    const args = managerArgs(documents);
    assert.ok(args.includes('--webhook-cert-dir=/var/run/kamaji/webhook-certificate'), args.join(' '));
    assert.ok(!args.some((arg) => arg.startsWith('--webhook-secret=')), 'the manager manages no Secret then');
    const certificate = find<{ spec: { secretName: string; dnsNames: string[] } }>(
      documents,
      'Certificate',
      'kamaji-webhook-certificate',
    );
    assert.deepEqual(certificate.spec.dnsNames, [
      'kamaji-webhook-service.kamaji-system.svc',
      'kamaji-webhook-service.kamaji-system.svc.cluster.local',
    ]);
    find(documents, 'Issuer', 'kamaji-webhook-issuer');
    const pod = find<V1Deployment>(documents, 'Deployment', 'kamaji').spec?.template.spec;
    assert.deepEqual(
      pod?.volumes?.find((volume) => volume.name === 'webhook-certificate')?.secret?.secretName,
      certificate.spec.secretName,
    );
    assert.ok(
      pod?.containers[0]?.volumeMounts?.some(
        (mount) => mount.name === 'webhook-certificate' && mount.mountPath === '/var/run/kamaji/webhook-certificate',
      ),
    );
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const configuration = documents.find((document) => document.kind === kind)?.object as {
        metadata: { annotations?: Record<string, string> };
      };
      assert.deepEqual(configuration.metadata.annotations, {
        'cert-manager.io/inject-ca-from': 'kamaji-system/kamaji-webhook-certificate',
        team: 'platform',
      });
    }
    const without = await render();
    assert.ok(!without.some((document) => ['Certificate', 'Issuer'].includes(document.kind)), 'off by default');
  });

  test('a log format other than text or json is refused, naming the value', async () => {
    await assert.rejects(render('logFormat=xml'), /logFormat must be text or json, not "xml"/);
  });

  test('the pod: non-root 65532, read-only root with /tmp an emptyDir, no capability, seccomp, probes on healthz', async () => {
    const deployment = find<V1Deployment>(await render(), 'Deployment', 'kamaji');
    const pod = deployment.spec?.template.spec;
    const container = pod?.containers[0];
    assert.equal(deployment.spec?.replicas, 2);
    assert.equal(container?.image, 'docker.io/kamaji/kamaji-ts:v0.1.0');
    assert.deepEqual(pod?.securityContext, {
      fsGroup: 65532,
      runAsGroup: 65532,
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(container?.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(container?.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(container?.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container?.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
    assert.ok(pod?.volumes?.some((volume) => volume.name === 'tmp' && volume.emptyDir));
    assert.deepEqual(
      container?.env?.map((variable) => [variable.name, variable.valueFrom?.fieldRef?.fieldPath]),
      [
        ['POD_IP', 'status.podIP'],
        ['POD_NAMESPACE', 'metadata.namespace'],
      ],
    );
    assert.deepEqual(
      container?.ports?.map((port) => `${port.name}:${port.containerPort}`),
      ['metrics:8080', 'healthz:8081', 'webhook:9443'],
    );
    assert.equal(container?.livenessProbe?.httpGet?.port, 'healthz');
    assert.equal(container?.readinessProbe?.httpGet?.path, '/readyz');
  });

  test('the Services: metrics on 8080, the webhook Service on 443 to the pods\' "webhook" port', async () => {
    const documents = await render();
    const webhook = find<V1Service>(documents, 'Service', 'kamaji-webhook-service');
    assert.deepEqual(webhook.spec?.ports, [{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    const metrics = find<V1Service>(documents, 'Service', 'kamaji-metrics-service');
    assert.equal(metrics.spec?.ports?.[0]?.targetPort, 'metrics');
    assert.ok(!documents.some((document) => document.kind === 'ServiceMonitor'), 'no ServiceMonitor by default');
    const monitored = await render('metrics.serviceMonitor.enabled=true');
    assert.ok(monitored.some((document) => document.kind === 'ServiceMonitor'));
  });

  test('RBAC: no wildcard anywhere, and every rule has a comment naming the code that needs it', async () => {
    const roles = (await render()).filter((document) => document.kind === 'ClusterRole' || document.kind === 'Role');
    assert.deepEqual(
      roles.map((role) => `${role.kind}/${role.name}`),
      ['ClusterRole/kamaji-manager', 'Role/kamaji-manager'],
    );
    let rules = 0;
    for (const role of roles) {
      const parsed = (role.object as V1ClusterRole).rules ?? [];
      const wildcards = parsed.filter((rule: V1PolicyRule) =>
        [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames, rule.nonResourceURLs]
          .flat()
          .some((entry) => entry?.includes('*')),
      );
      assert.deepEqual(wildcards, [], `${role.kind} ${role.name} has no wildcard`);
      // Each rule begins with "- apiGroups:"; the lines since the previous rule must say why, naming a source file.
      const lines = role.text.split('\n');
      const ruleStarts = lines.flatMap((line, index) => (/^\s*- apiGroups:/.test(line) ? [index] : []));
      assert.equal(ruleStarts.length, parsed.length, `every rule of ${role.name} starts with apiGroups`);
      let previous = lines.findIndex((line) => /^rules:/.test(line));
      for (const start of ruleStarts) {
        const comment = lines.slice(previous + 1, start).filter((line) => /^\s*#/.test(line));
        assert.ok(
          comment.some((line) => /src\/[\w/.-]+/.test(line)),
          `${role.name}: the rule at "${lines
            .slice(start, start + 3)
            .join(' ')
            .trim()}" names no code`,
        );
        previous = start;
        rules += 1;
      }
    }
    assert.ok(rules >= 12, `${rules} rules checked`);
  });

  test('RBAC: the Lease and the webhook Secret in the release namespace only, by name; webhook configurations by name', async () => {
    const documents = await render();
    const clusterRole = find<V1ClusterRole>(documents, 'ClusterRole', 'kamaji-manager');
    assert.ok(!clusterRole.rules?.some((rule) => rule.resources?.includes('leases')), 'no cluster-wide Lease rule');
    const role = find<V1ClusterRole & { metadata: { namespace: string } }>(documents, 'Role', 'kamaji-manager');
    assert.equal(role.metadata.namespace, 'kamaji-system');
    assert.deepEqual(
      role.rules?.map((rule) => [rule.resources, rule.resourceNames ?? [], rule.verbs]),
      [
        [['leases'], ['kamaji-manager'], ['get', 'update']],
        [['leases'], [], ['create']],
        [['secrets'], ['kamaji-webhook-certificate'], ['get', 'list', 'watch', 'update']],
      ],
    );
    const webhookRules = (rules: V1PolicyRule[] | undefined) =>
      (rules ?? []).filter((rule) => rule.apiGroups?.includes('admissionregistration.k8s.io'));
    assert.deepEqual(
      webhookRules(clusterRole.rules).map((rule) => rule.resourceNames),
      [['kamaji-validating-webhook-configuration'], ['kamaji-mutating-webhook-configuration']],
    );
    const withoutWebhooks = find<V1ClusterRole>(
      await render('webhooks.enabled=false'),
      'ClusterRole',
      'kamaji-manager',
    );
    assert.deepEqual(webhookRules(withoutWebhooks.rules), [], 'no webhook rule without webhooks');
    const roleWithoutWebhooks = find<V1ClusterRole>(await render('webhooks.enabled=false'), 'Role', 'kamaji-manager');
    assert.ok(!roleWithoutWebhooks.rules?.some((rule) => rule.resources?.includes('secrets')));
  });

  test('the Grafana dashboard: valid JSON in a ConfigMap labelled for the sidecar, querying exactly the metrics the manager serves', async () => {
    const configMap = find<{ metadata: { labels: Record<string, string> }; data: Record<string, string> }>(
      await render(),
      'ConfigMap',
      'kamaji-grafana-dashboard',
    );
    assert.equal(configMap.metadata.labels.grafana_dashboard, '1');
    const file = await readFile(join(CHART_DIR, 'dashboards', 'kamaji.json'), 'utf8');
    assert.equal(configMap.data['kamaji.json'], file.trimEnd());
    const dashboard = JSON.parse(file) as {
      title: string;
      uid: string;
      schemaVersion: number;
      panels: {
        id: number;
        type: string;
        gridPos: { h: number; w: number; x: number; y: number };
        targets?: { refId: string; expr: string }[];
      }[];
    };
    assert.ok(dashboard.title && dashboard.uid && dashboard.schemaVersion >= 36);
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      const { h, w, x, y } = panel.gridPos;
      assert.ok(h > 0 && w > 0 && x + w <= 24 && y >= 0, `panel ${panel.id} fits the 24-column grid`);
      if (panel.type === 'row') continue;
      assert.ok(panel.targets?.length, `panel ${panel.id} has queries`);
      for (const target of panel.targets ?? []) {
        for (const [name] of target.expr.matchAll(/\b[a-z_]+(?=\{)/g))
          used.add(name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    assert.deepEqual(
      [...used].filter((name) => !METRICS.includes(name)),
      [],
      "only the contract's metrics",
    );
    assert.deepEqual(
      METRICS.filter((name) => !used.has(name)),
      [],
      'every contract metric has a panel',
    );
  });

  test('kamaji install --print: the namespace, the CRDs first, then the release, for kubectl apply without Helm', async () => {
    const printedManifest = await kamaji('install', '--print', '--namespace', 'elsewhere', '--set', 'replicaCount=1');
    assert.equal(printedManifest.code, 0, printed(printedManifest));
    assert.equal(
      printedManifest.stdout,
      await plainManifest({ ...RELEASE, namespace: 'elsewhere', values: ['replicaCount=1'] }),
    );
    const kinds = parseAllDocuments(printedManifest.stdout)
      .map((document) => document.toJS() as { kind: string; metadata: { name: string; namespace?: string } } | null)
      .filter((object) => object !== null);
    assert.deepEqual(
      kinds.slice(0, 4).map((object) => `${object.kind}/${object.metadata.name}`),
      [
        'Namespace/elsewhere',
        'CustomResourceDefinition/tenantcontrolplanes.kamaji.clastix.io',
        'CustomResourceDefinition/datastores.kamaji.clastix.io',
        'CustomResourceDefinition/kubeconfiggenerators.kamaji.clastix.io',
      ],
    );
    const deployment = kinds.find((object) => object.kind === 'Deployment') as V1Deployment | undefined;
    assert.equal(deployment?.metadata?.namespace, 'elsewhere');
    assert.equal(deployment?.spec?.replicas, 1);
  });
});
