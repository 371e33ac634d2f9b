import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { customResourceDefinitions, KINDS } from '../../src/api/crds.ts';
import { GROUP, VERSION } from '../../src/api/v1alpha1/group-version.ts';
import type { ControlPlaneHarness } from '../../src/harness/control-plane.ts';
import { waitFor } from '../../src/util/wait.ts';

/** Creates our CRDs and waits until the API server serves all of them. */
export async function installCustomResourceDefinitions(config: KubeConfig): Promise<void> {
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  for (const crd of customResourceDefinitions()) await extensions.createCustomResourceDefinition({ body: crd });
  await waitFor(
    async () => {
      const { items } = await extensions.listCustomResourceDefinition();
      const established = items.filter((crd) =>
        crd.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True'),
      );
      return established.length === KINDS.length ? true : undefined;
    },
    { timeoutMs: 20_000, description: 'our CRDs to be Established' },
  );
}

/**
 * An etcd DataStore for the harness etcd, its CA and root client certificate in a Secret referenced the way
 * upstream's sample does (secretReference with keyPath).
 */
export async function createEtcdDataStore(
  config: KubeConfig,
  harness: ControlPlaneHarness,
  name: string,
): Promise<void> {
  const core = config.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'kamaji-system' } } }).catch(() => undefined);
  const base64 = (text: string | undefined) => Buffer.from(text ?? '').toString('base64');
  await core.createNamespacedSecret({
    namespace: 'kamaji-system',
    body: {
      metadata: { name: `${name}-etcd-certs` },
      data: {
        'ca.crt': base64(harness.etcd.ca.certificatePem),
        'ca.key': base64(harness.etcd.ca.privateKeyPem),
        'tls.crt': base64(harness.etcd.root.clientCertificatePem),
        'tls.key': base64(harness.etcd.root.clientKeyPem),
      },
    },
  });
  const reference = (keyPath: string) => ({
    secretReference: { name: `${name}-etcd-certs`, namespace: 'kamaji-system', keyPath },
  });
  await config.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'datastores',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'DataStore',
      metadata: { name },
      spec: {
        driver: 'etcd',
        endpoints: [harness.etcd.endpoint],
        tlsConfig: {
          certificateAuthority: { certificate: reference('ca.crt'), privateKey: reference('ca.key') },
          clientCertificate: { certificate: reference('tls.crt'), privateKey: reference('tls.key') },
        },
      },
    },
  });
}
