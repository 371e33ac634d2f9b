import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Deployment, type V1Volume, VersionApi } from '@kubernetes/client-node';
import { objectNames } from '../../src/tenant/names.ts';
import type { SecretText } from '../../src/tenant/steps/certificates.ts';
import { waitFor } from '../../src/util/wait.ts';

/**
 * Writes Secrets where a control-plane pod would see them, following the Deployment's own volumes (projected
 * items and subPath mounts), under `root` instead of `/`. This is what the kubelet would do, done by hand so that
 * the components can run as plain processes against the exact files the pod would get.
 */
export async function materializePodFiles(
  deployment: V1Deployment,
  secrets: ReadonlyMap<string, SecretText>,
  root: string,
): Promise<void> {
  const podSpec = deployment.spec?.template.spec;
  const volumes = new Map<string, V1Volume>((podSpec?.volumes ?? []).map((volume) => [volume.name, volume]));
  for (const container of podSpec?.containers ?? []) {
    for (const mount of container.volumeMounts ?? []) {
      const volume = volumes.get(mount.name);
      const sources =
        volume?.projected?.sources?.map((source) => source.secret).filter((secret) => secret !== undefined) ?? [];
      if (volume?.secret) sources.push({ name: volume.secret.secretName ?? '', items: volume.secret.items ?? [] });
      for (const source of sources) {
        const data = secrets.get(source.name ?? '');
        if (!data) throw new Error(`volume ${mount.name} refers to Secret ${source.name}, which was not given`);
        for (const item of source.items ?? []) {
          if (mount.subPath && mount.subPath !== item.path) continue;
          const target = mount.subPath ? join(root, mount.mountPath) : join(root, mount.mountPath, item.path);
          await mkdir(join(target, '..'), { recursive: true });
          await writeFile(target, data[item.key] ?? '', { mode: 0o600 });
        }
      }
    }
  }
}

/** A container's arguments with the pod's file paths moved under `root`, where materializePodFiles wrote them. */
export function containerArgsUnder(deployment: V1Deployment, name: string, root: string): string[] {
  const container = deployment.spec?.template.spec?.containers.find((candidate) => candidate.name === name);
  if (!container?.args) throw new Error(`the Deployment has no container ${name} with arguments`);
  return container.args.map((arg) => arg.replaceAll('=/etc/', `=${root}/etc/`));
}

/**
 * The tenant's super-admin once its API server answers /version with `version` and, as that admin, has created
 * the Namespace `namespace`: the API server reads and writes its datastore.
 */
export async function adminCreatingNamespace(
  secrets: ReadonlyMap<string, SecretText>,
  tenant: string,
  namespace: string,
  version: string,
): Promise<KubeConfig> {
  const admin = new KubeConfig();
  admin.loadFromString(secrets.get(objectNames(tenant).adminKubeconfigSecret)?.['super-admin.conf'] ?? '');
  const served = await waitFor(() => admin.makeApiClient(VersionApi).getCode(), {
    timeoutMs: 90_000,
    intervalMs: 250,
    description: 'the tenant API server to answer /version',
  });
  assert.equal(served.gitVersion, version);
  await waitFor(() => admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } }), {
    timeoutMs: 60_000,
    description: 'the admin kubeconfig to create a Namespace',
  });
  return admin;
}
