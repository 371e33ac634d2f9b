import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Deployment, type V1Volume, VersionApi } from '@kubernetes/client-node';
import { freePort } from '../../src/process/ports.ts';
import type { SupervisedProcess, Supervisor } from '../../src/process/supervisor.ts';
import { objectNames } from '../../src/tenant/names.ts';
import type { SecretText } from '../../src/tenant/steps/certificates.ts';
import { KINE_LISTEN_ADDRESS } from '../../src/tenant/steps/kine.ts';
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

/** `$(NAME)` references expanded from `variables`, as the kubelet does for a container's env values. */
export function expandEnv(value: string, variables: Readonly<Record<string, string>>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (reference, name: string) => variables[name] ?? reference);
}

export interface KinePod {
  kine: SupervisedProcess;
  apiServer: SupervisedProcess;
  /** Where kine listens: a free loopback port (here processes share the host's loopback, not the pod's). */
  kineAddress: string;
  /** kine's environment, as the kubelet would give it (the datastore config Secret and expanded `env`). */
  kineEnv: Record<string, string>;
}

/**
 * Runs the Deployment's kine and kube-apiserver as processes, with the files `materializePodFiles` wrote under
 * `root`: kine's env expanded from the datastore config Secret, as the kubelet does (`envFrom`, then `env`).
 */
export async function startKineAndApiServer(
  supervisor: Supervisor,
  deployment: V1Deployment,
  secrets: ReadonlyMap<string, SecretText>,
  tenant: string,
  binaries: { kine: string; kubeApiServer: string },
  root: string,
): Promise<KinePod> {
  const kineAddress = `127.0.0.1:${await freePort()}`;
  const args = (name: string) =>
    containerArgsUnder(deployment, name, root).map((arg) => arg.replace(KINE_LISTEN_ADDRESS, kineAddress));
  const container = deployment.spec?.template.spec?.containers.find((candidate) => candidate.name === 'kine');
  const config = secrets.get(objectNames(tenant).datastoreConfigSecret) ?? {};
  const kineEnv = {
    ...config,
    ...Object.fromEntries(
      (container?.env ?? []).map((variable) => [
        variable.name,
        expandEnv(variable.value ?? '', config).replaceAll('=/etc/', `=${root}/etc/`),
      ]),
    ),
  };
  const kine = supervisor.start({
    name: 'kine',
    command: binaries.kine,
    args: args('kine'),
    env: { PATH: process.env.PATH ?? '', ...kineEnv },
    logFile: join(root, 'kine.log'),
  });
  const apiServer = supervisor.start({
    name: 'kube-apiserver',
    command: binaries.kubeApiServer,
    args: args('kube-apiserver'),
    logFile: join(root, 'kube-apiserver.log'),
  });
  return { kine, apiServer, kineAddress, kineEnv };
}
