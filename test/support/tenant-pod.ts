import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Deployment, V1Volume } from '@kubernetes/client-node';
import type { SecretText } from '../../src/tenant/steps/certificates.ts';

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
