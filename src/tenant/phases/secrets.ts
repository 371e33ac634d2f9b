import type { V1Secret } from '@kubernetes/client-node';
import { tenantControlPlaneResource } from '../../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import {
  CHECKSUM_ANNOTATION,
  checksum,
  mergePatch,
  serverSideApplyMetadata,
  withChecksum,
} from '../../controller/apply.ts';
import { builtinResources, resourcePath } from '../../controller/kube-client.ts';
import { decodeSecretData } from '../../controller/secret-data.ts';
import type { CertificateAndKey } from '../../pki/certificates.ts';
import type { TenantContext } from '../context.ts';
import { ANNOTATION_ROTATE, LABEL_TENANT, objectNames, ownedLabels } from '../names.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from '../steps/certificates.ts';
import { desiredDatastoreSecrets, type TenantCredentials } from '../steps/datastore.ts';
import { desiredKonnectivitySecrets } from '../steps/konnectivity.ts';
import { desiredKubeconfigSecrets } from '../steps/kubeconfigs.ts';
import { konnectivitySecretNames, konnectivityStatus, reconcileEgressConfigMap } from './konnectivity.ts';
import { deleteExactly, isOwnedBy, owned } from './owned.ts';
import type { Phase, PipelineDependencies, TenantReconcile } from './phase.ts';

/** How long our own writes may take to show in the informers before a difference counts as a real change. */
const INFORMER_LAG_MS = 5_000;
/** Certificates are checked for renewal at least this often. */
const RENEWAL_CHECK_MS = 6 * 60 * 60 * 1000;

/**
 * What the last full pass produced for a tenant. While the tenant context and the Secrets' checksum annotations
 * are as it left them, certificates need no second look until the next renewal check.
 */
interface Converged {
  contextChecksum: string;
  /** Secret name → the checksum annotation written on it. */
  annotations: Map<string, string>;
  /** Secret name → checksum of its data, for the status. */
  secretChecksums: Map<string, string>;
  podTemplateChecksum: string;
  /** Konnectivity's egress selector ConfigMap, while it is enabled. */
  egressConfigMap?: { name: string; checksum: string };
  at: number;
}

/**
 * Every certificate, kubeconfig and datastore credential of the tenant, kept while still good (renewed 30 days
 * before expiry or on the rotate annotation), written where its checksum annotation differs.
 */
export class SecretsPhase implements Phase {
  readonly name = 'secrets';
  readonly condition = 'CertificatesReady' as const;
  private readonly deps: PipelineDependencies;
  private readonly converged = new Map<string, Converged>();

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  forget(key: string): void {
    this.converged.delete(key);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async run(reconcile: TenantReconcile) {
    const { tcp } = reconcile;
    const context = contextOf(reconcile, this.deps);
    reconcile.context = context;
    const rotate = tcp.metadata.annotations?.[ANNOTATION_ROTATE] !== undefined;
    // A SQL password the datastore phase replaced (missing or corrupted) must be written even if the Secret's
    // checksum annotation was left as it was.
    const connection = reconcile.dataStore;
    const sql = connection.kind === 'etcd' ? [] : [reconcile.dataStorePassword, connection.caCertificatePem];
    const contextChecksum = checksum([context, reconcile.spec.dataStoreUsername, ...sql]);
    let converged = this.converged.get(reconcile.key);
    const freshness = converged && this.freshness(converged, contextChecksum, context);
    let requeueAfterMs = RENEWAL_CHECK_MS;
    if (rotate || !converged || freshness === 'stale') {
      const secrets = await this.applySecrets(reconcile, rotate);
      const egressConfigMap = await reconcileEgressConfigMap(this.deps, tcp, context);
      const mounted = secrets.map((secret) => [secret.name, secret.data]);
      converged = {
        contextChecksum,
        annotations: new Map(secrets.map((secret) => [secret.name, secret.annotation])),
        secretChecksums: new Map(secrets.map((secret) => [secret.name, checksum(secret.data)])),
        // Any certificate, kubeconfig or configuration change must reach the pods: its checksum is part of the pod
        // template.
        podTemplateChecksum: checksum(egressConfigMap ? [mounted, egressConfigMap.checksum] : mounted),
        ...(egressConfigMap ? { egressConfigMap } : {}),
        at: this.now().getTime(),
      };
      this.converged.set(reconcile.key, converged);
      if (rotate) await this.clearRotateAnnotation(reconcile);
    } else if (freshness === 'lagging') {
      // Our own writes are not in the informer yet; look again shortly in case a Secret really was changed.
      requeueAfterMs = INFORMER_LAG_MS;
    }
    reconcile.podTemplateChecksum = converged.podTemplateChecksum;
    reconcile.observe(secretStatus(reconcile.name, converged.secretChecksums));
    reconcile.observe(konnectivitySecretStatus(tcp, context, converged));
    const renewal = new Date(converged.at + RENEWAL_CHECK_MS).toISOString();
    return {
      requeueAfterMs,
      condition: {
        status: 'True',
        reason: 'Current',
        message: `${converged.secretChecksums.size} certificate, kubeconfig and datastore Secrets are current; next renewal check ${renewal}`,
      },
    } as const;
  }

  /**
   * Whether the last full pass still holds: 'current' when the context and every Secret's checksum annotation are
   * as it left them; 'lagging' when only Secrets it wrote a moment ago differ (the informer has not caught up);
   * 'stale' otherwise, or when certificates are due for their periodic renewal check.
   */
  private freshness(converged: Converged, contextChecksum: string, context: TenantContext) {
    const age = this.now().getTime() - converged.at;
    if (converged.contextChecksum !== contextChecksum || age > RENEWAL_CHECK_MS) return 'stale';
    const observed = this.deps.observed.secrets(context.namespace, context.name);
    const differing = [...converged.annotations].filter(
      ([name, annotation]) => observed.get(name)?.checksum !== annotation,
    );
    if (differing.length === 0) return 'current';
    return age < INFORMER_LAG_MS ? 'lagging' : 'stale';
  }

  /** Computes every Secret (keeping what is still good) and writes those whose checksum annotation differs. */
  private async applySecrets(
    reconcile: TenantReconcile,
    rotate: boolean,
  ): Promise<(DesiredSecret & { annotation: string })[]> {
    const { tcp, context } = reconcile;
    const { existing, objects } = await this.ownedSecrets(reconcile);
    const options = { rotate, now: this.now() };
    const certificates = await desiredCertificateSecrets(context, existing, options);
    const caData = certificates.find((secret) => secret.name === objectNames(context.name).caSecret)?.data ?? {};
    const ca = { certificatePem: caData['ca.crt'] ?? '', privateKeyPem: caData['ca.key'] ?? '' };
    const [kubeconfigs, konnectivity, storage] = await Promise.all([
      desiredKubeconfigSecrets(context, ca, existing, options),
      context.konnectivity ? desiredKonnectivitySecrets(context, ca, existing, options) : [],
      desiredDatastoreSecrets({
        context,
        credentials: tenantCredentials(reconcile, ca),
        username: reconcile.spec.dataStoreUsername,
        existing,
        options,
      }),
    ]);
    if (!context.konnectivity) {
      // Disabled: its Secrets go, when this TCP controls them.
      const stale = new Set(konnectivitySecretNames(context.name));
      const ours = objects.filter((secret) => stale.has(secret.metadata?.name ?? '') && isOwnedBy(secret, tcp));
      await Promise.all(ours.map((secret) => deleteExactly(this.deps.client, builtinResources.secret, secret)));
    }
    const observed = this.deps.observed.secrets(context.namespace, context.name);
    return Promise.all(
      [...certificates, ...kubeconfigs, ...konnectivity, ...storage].map(async (secret) => {
        const desired = withChecksum<V1Secret>(
          owned(tcp, {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: secret.name,
              namespace: context.namespace,
              labels: ownedLabels(context.name, secret.component),
            },
            type: secret.type ?? 'Opaque',
            data: Object.fromEntries(
              Object.entries(secret.data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
            ),
          } satisfies V1Secret),
        );
        const live = observed.get(secret.name);
        if (live?.paused) {
          // Left as the operator set it; what is stored is what the pods mount.
          return { ...secret, data: existing.get(secret.name) ?? secret.data, annotation: live.checksum ?? '' };
        }
        const annotation = desired.metadata?.annotations?.[CHECKSUM_ANNOTATION] ?? '';
        if (live?.checksum !== annotation) {
          await serverSideApplyMetadata(this.deps.client, builtinResources.secret, desired);
        }
        return { ...secret, annotation };
      }),
    );
  }

  private async ownedSecrets(
    reconcile: TenantReconcile,
  ): Promise<{ existing: Map<string, SecretText>; objects: V1Secret[] }> {
    const list = await this.deps.client.request<{ items: V1Secret[] }>(
      'GET',
      resourcePath(builtinResources.secret, { namespace: reconcile.namespace }),
      { query: { labelSelector: `${LABEL_TENANT}=${reconcile.name}` } },
    );
    const existing = new Map(list.items.map((secret) => [secret.metadata?.name ?? '', decodeSecretData(secret)]));
    return { existing, objects: list.items };
  }

  private async clearRotateAnnotation(reconcile: TenantReconcile): Promise<void> {
    const location = { namespace: reconcile.namespace, name: reconcile.name };
    await mergePatch(this.deps.client, tenantControlPlaneResource, location, {
      metadata: { annotations: { [ANNOTATION_ROTATE]: null } },
    });
    await this.deps.events.record(
      reconcile.tcp,
      'Normal',
      'CertificatesRotated',
      'every leaf certificate and kubeconfig was renewed',
    );
  }
}

/** Everything the tenant builders need, from the claimed spec and what earlier phases observed. */
function contextOf(reconcile: TenantReconcile, deps: PipelineDependencies): TenantContext {
  const { spec, endpoint } = reconcile;
  const network = spec.networkProfile;
  return {
    name: reconcile.name,
    namespace: reconcile.namespace,
    version: spec.kubernetes.version,
    deployment: spec.controlPlane.deployment,
    endpointAddress: endpoint.address,
    endpointPort: endpoint.port,
    advertiseAddress: network.advertiseAddress || endpoint.address,
    port: network.port,
    certSANs: network.certSANs ?? [],
    clusterDomain: network.clusterDomain,
    serviceCidr: network.serviceCidrs[0] ?? network.serviceCidr,
    podCidr: network.podCidrs[0] ?? network.podCidr,
    admissionControllers: spec.kubernetes.admissionControllers,
    kubeletPreferredAddressTypes: spec.kubernetes.kubelet.preferredAddressTypes,
    datastore: {
      driver: reconcile.dataStore.kind,
      endpoints: reconcile.dataStore.endpoints,
      schema: spec.dataStoreSchema,
    },
    keyAlgorithm: deps.keyAlgorithm,
    ...(spec.addons?.konnectivity ? { konnectivity: spec.addons.konnectivity.server } : {}),
  };
}

/**
 * How the tenant authenticates to its DataStore: a certificate from the etcd CA, or its password (kine): on SQL the
 * database user's, on NATS the one its account's signing key is derived from (with the creds file it gives).
 */
function tenantCredentials(reconcile: TenantReconcile, tenantCa: CertificateAndKey): TenantCredentials {
  const connection = reconcile.dataStore;
  if (connection.kind === 'etcd') return { kind: 'etcd', datastoreCa: connection.ca };
  const { kind, caCertificatePem } = connection;
  const password = reconcile.dataStorePassword;
  if (kind !== 'NATS') return { kind, caCertificatePem, password, tenantCa };
  const { dataStoreSchema, dataStoreUsername } = reconcile.spec;
  const natsCredentials = connection.tenantCredentials(dataStoreSchema, dataStoreUsername, password);
  return { kind, caCertificatePem, password, tenantCa, natsCredentials };
}

/** `status.addons.konnectivity`: enabled, the server's certificate and kubeconfig, the egress ConfigMap. */
function konnectivitySecretStatus(tcp: TenantControlPlane, context: TenantContext, converged: Converged) {
  const names = objectNames(context.name);
  const ref = (name: string) => ({ secretName: name, checksum: converged.secretChecksums.get(name) ?? '' });
  return konnectivityStatus(tcp, context.konnectivity !== undefined, {
    certificate: ref(names.konnectivityCertificateSecret),
    kubeconfig: ref(names.konnectivityKubeconfigSecret),
    configMap: converged.egressConfigMap ?? { name: names.konnectivityEgressConfigMap, checksum: '' },
  });
}

/** The status slices naming each Secret and the checksum of its data. */
function secretStatus(tcp: string, checksums: ReadonlyMap<string, string>) {
  const names = objectNames(tcp);
  const ref = (name: string) => ({ secretName: name, checksum: checksums.get(name) ?? '' });
  return {
    certificates: {
      ca: ref(names.caSecret),
      apiServer: ref(names.apiServerCertificateSecret),
      apiServerKubeletClient: ref(names.kubeletClientCertificateSecret),
      frontProxyCA: ref(names.frontProxyCaSecret),
      frontProxyClient: ref(names.frontProxyClientCertificateSecret),
      sa: ref(names.serviceAccountSecret),
    },
    kubeconfig: {
      admin: ref(names.adminKubeconfigSecret),
      controllerManager: ref(names.controllerManagerKubeconfigSecret),
      scheduler: ref(names.schedulerKubeconfigSecret),
    },
    storage: { certificate: ref(names.datastoreCertificateSecret), config: ref(names.datastoreConfigSecret) },
  };
}
