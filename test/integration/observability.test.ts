import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { exitedWithLog } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { NAMESPACE, useKamajiCluster } from '../support/kamaji-cluster.ts';
import { startManagerProcess } from '../support/manager-process.ts';

/** The names the chart's dashboard and controller-runtime's dashboards query (docs/observability.md). */
const EXPECTED_SERIES = [
  /^controller_runtime_reconcile_total\{controller="tenantcontrolplane",result="\w+"\} [1-9]/m,
  /^controller_runtime_reconcile_time_seconds_count\{controller="datastore"\} [1-9]/m,
  /^controller_runtime_reconcile_errors_total\{controller="tenantcontrolplane"\} \d/m,
  /^workqueue_adds_total\{name="tenantcontrolplane"\} [1-9]/m,
  /^workqueue_depth\{name="datastore"\} \d/m,
  /^workqueue_queue_duration_seconds_count\{name="tenantcontrolplane"\} [1-9]/m,
  /^workqueue_work_duration_seconds_count\{name="tenantcontrolplane"\} [1-9]/m,
  /^workqueue_retries_total\{name="tenantcontrolplane"\} \d/m,
  /^rest_client_requests_total\{code="200",method="GET",host="[^"]+"\} [1-9]/m,
  /^rest_client_requests_total\{code="201",method="POST",host="[^"]+"\} [1-9]/m,
  /^leader_election_master_status\{name="kamaji-manager"\} 1$/m,
  /^kamaji_tenantcontrolplanes\{status="\w+"\} 1$/m,
  /^kamaji_tenant_step_duration_seconds_count\{step="\w+"\} [1-9]/m,
  /^kamaji_datastore_operations_total\{driver="etcd",operation="ensure_tenant"\} [1-9]/m,
  /^kamaji_datastore_operations_total\{driver="etcd",operation="check"\} [1-9]/m,
  /^kamaji_datastore_operation_duration_seconds_count\{driver="etcd",operation="ensure_tenant"\} [1-9]/m,
  /^process_resident_memory_bytes [1-9]/m,
];

interface LogLine {
  ts: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

describe('the manager observed: metrics on a port of their own, JSON logs with the tenant as fields', () => {
  const cluster = useKamajiCluster();

  test('metrics carry the dashboards’ names; every log line is JSON; the tenant’s story is findable by field', async () => {
    const { supervisor, dir, harness } = cluster();
    const manager = await startManagerProcess(supervisor, {
      name: 'observed',
      dir,
      kubeconfigYaml: harness.kubeconfigYaml,
      leaderElect: true,
      extraArgs: ['--metrics-address=127.0.0.1:0', '--log-format=json'],
    });
    const lines = async (): Promise<LogLine[]> =>
      (await readFile(manager.logFile, 'utf8'))
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line) as LogLine);
    const urlOf = (what: string) =>
      waitFor(
        async () =>
          (await lines()).find((line) => line.msg.startsWith(`kamaji manager: ${what} on `))?.msg.split(' on ')[1],
        { timeoutMs: 20_000, description: `the ${what} address in the log`, giveUp: () => exitedWithLog(manager) },
      );
    const metricsUrl = await urlOf('metrics');
    const probesUrl = await urlOf('probes');
    assert.notEqual(metricsUrl, probesUrl, 'metrics are served on a port of their own');

    await cluster().createTenant('watched');
    await cluster().waitProvisioned('watched', { giveUp: () => exitedWithLog(manager) });
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    const missing = EXPECTED_SERIES.filter((pattern) => !pattern.test(text));
    assert.deepEqual(missing, [], `series missing from /metrics:\n${text.slice(0, 3000)}`);
    assert.equal((await fetch(`${probesUrl}/metrics`)).status, 404, 'the probe port serves no metrics');
    assert.equal((await fetch(`${probesUrl}/readyz`)).status, 200);

    const parsed = await lines(); // throws on any line that is not JSON
    assert.ok(parsed.every((line) => line.ts && line.level && typeof line.msg === 'string'));
    const aboutTenant = parsed.filter((line) => line.namespace === NAMESPACE && line.name === 'watched');
    assert.ok(
      aboutTenant.some((line) => line.kind === 'TenantControlPlane' && line.reason),
      `no log line with the tenant as fields:\n${parsed.map((line) => JSON.stringify(line)).join('\n')}`,
    );
  });
});
