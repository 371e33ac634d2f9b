import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { ApiError, builtinResources, KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { freezeTenant, thawTenant } from '../../src/tenant/phases/migration-io.ts';
import { FREEZE_NAME, freezeMessage, freezeResources } from '../../src/tenant/steps/freeze.ts';
import type { TenantConnection } from '../../src/tenant/tenant-clients.ts';
import { useControlPlane } from '../support/control-plane.ts';

/**
 * The migration's write freeze on a real kube-apiserver standing in for a tenant's: every write refused with the
 * migration named, reads and the requests that store nothing (reviews) still answered, and writes back once lifted.
 */
describe('the kamaji-freeze policy in a real API server', () => {
  const harness = useControlPlane();
  const connection = (): TenantConnection & { client: KubeClient } => {
    const { kubeconfigYaml } = harness();
    const client = new KubeClient(accessFromKubeconfig(kubeconfigYaml, '/', 'harness'));
    return { server: harness().apiserverUrl, kubeconfig: kubeconfigYaml, caller: client, secret: 'harness', client };
  };
  const configMaps = resourcePath(builtinResources.configMap, { namespace: 'default' });
  const configMap = (name: string, value: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name },
    data: { value },
  });

  test('refuses every write with the migration named, keeps reads and reviews, and lifts cleanly', async () => {
    const tenant = connection();
    try {
      await tenant.client.request('POST', configMaps, { body: configMap('before', '1') });
      await tenant.client.request('POST', '/api/v1/namespaces/default/serviceaccounts', {
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader' } },
      });
      const started = performance.now();
      await freezeTenant(tenant, 'etcd-a', 'pg-b', 2);
      const enforcedMs = performance.now() - started;

      const message = freezeMessage('etcd-a', 'pg-b');
      const writes: [string, () => Promise<unknown>][] = [
        ['create a ConfigMap', () => tenant.client.request('POST', configMaps, { body: configMap('during', '1') })],
        [
          'update a ConfigMap',
          () =>
            tenant.client.request('PUT', `${configMaps}/before`, {
              body: configMap('before', '2'),
            }),
        ],
        ['delete a ConfigMap', () => tenant.client.request('DELETE', `${configMaps}/before`)],
        [
          'create a Namespace',
          () =>
            tenant.client.request('POST', '/api/v1/namespaces', {
              body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'during' } },
            }),
        ],
        [
          "write a Namespace's status (a subresource)",
          () =>
            tenant.client.request('PATCH', '/api/v1/namespaces/default/status', {
              body: { metadata: { labels: { frozen: 'no' } } },
              contentType: 'application/merge-patch+json',
            }),
        ],
        [
          'renew a Lease',
          () =>
            tenant.client.request('POST', resourcePath(builtinResources.lease, { namespace: 'default' }), {
              body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' } },
            }),
        ],
      ];
      let denials = 0;
      for (const [what, write] of writes) {
        await assert.rejects(
          write(),
          (error: unknown) => error instanceof ApiError && error.status === 403 && error.message.includes(message),
          `${what} is refused with the freeze's message`,
        );
        denials++;
      }
      assert.equal(denials, writes.length);

      const read = await tenant.client.request<{ data: { value: string } }>('GET', `${configMaps}/before`);
      assert.equal(read.data.value, '1', 'reads keep working and nothing changed');
      const review = await tenant.client.request<{ status: { allowed: boolean } }>(
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { verb: 'get', resource: 'pods' } },
          },
        },
      );
      assert.equal(review.status.allowed, true, 'an access review (what kubelets ask for logs/exec) is answered');
      const token = await tenant.client.request<{ status: { token: string } }>(
        'POST',
        '/api/v1/namespaces/default/serviceaccounts/reader/token',
        { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } } },
      );
      const tokenReview = await tenant.client.request<{ status: { authenticated: boolean } }>(
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: token.status.token } } },
      );
      assert.equal(
        tokenReview.status.authenticated,
        true,
        "tokens are issued (kubelets refresh pods' tokens) and reviewed",
      );

      assert.equal(await thawTenant(tenant, 1, 10_000), true, 'lifted');
      assert.equal(await thawTenant(tenant, 1, 10_000), true, 'and lifting again is a no-op');
      for (const type of [freezeResources.policy, freezeResources.binding]) {
        await assert.rejects(tenant.client.request('GET', resourcePath(type, { name: FREEZE_NAME })), { status: 404 });
      }
      await tenant.client.request('POST', configMaps, { body: configMap('after', '1') });
      process.stdout.write(`# freeze enforced ${enforcedMs.toFixed(0)} ms after it was applied; ${denials} denials\n`);
    } finally {
      tenant.client.close();
    }
  });
});
