import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';
import type { ContainerdMirror } from './containerd.ts';
import { parseImageReference } from './image-references.ts';
import { OCI_MANIFEST_MEDIA_TYPE, type OciImage } from './images.ts';
import { type NodeBox, startInBox } from './node-box.ts';
import { stopRecordedProcess } from './pid-files.ts';
import type { StateLayout } from './state.ts';

/** The node process name (pid file, log file). */
export const REGISTRY_PROCESS = 'registry';
export const REGISTRY_PORT = 5000;
const READY_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * Where the instance's registry listens: the node address, inside the node netns (never a host address). The host
 * reaches it over the veth pair, and so would node boxes on the same node subnet.
 */
export function registryAddress(layout: StateLayout): string {
  return `${layout.network.nodeAddress}:${REGISTRY_PORT}`;
}

/** Blobs and manifests, under the state dir: `down --purge` takes them with it. */
export function registryStorageDir(layout: StateLayout): string {
  return join(layout.root, 'registry');
}

export function registryConfigFile(layout: StateLayout): string {
  return join(layout.dirs.config, 'registry.yml');
}

/** The registries our images are named after: containerd sends each to the instance's registry. */
export const MIRRORED_REGISTRIES = ['registry.k8s.io', 'docker.io'] as const;

/** The containerd mirror setting every node of the instance (admin node, worker boxes) uses. */
export function registryMirror(layout: StateLayout): ContainerdMirror {
  return { endpoint: `http://${registryAddress(layout)}`, registries: MIRRORED_REGISTRIES };
}

/** Debian's docker-registry (distribution 2.8): filesystem storage, plain HTTP on the node address, quiet logs. */
export function registryConfig(layout: StateLayout): string {
  return `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${JSON.stringify(registryStorageDir(layout))}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: ${JSON.stringify(registryAddress(layout))}
`;
}

/** Starts the registry in the node box and waits until it answers /v2/. */
export async function startRegistry(box: NodeBox, supervisor: Supervisor): Promise<SupervisedProcess> {
  const { layout } = box;
  await mkdir(registryStorageDir(layout), { recursive: true });
  await mkdir(layout.dirs.config, { recursive: true });
  await writeFile(registryConfigFile(layout), registryConfig(layout));
  const registry = await startInBox(box, supervisor, {
    name: REGISTRY_PROCESS,
    command: 'docker-registry',
    args: ['serve', registryConfigFile(layout)],
  });
  await waitForRegistry(layout, () => exitedWithLog(registry));
  return registry;
}

export async function waitForRegistry(layout: StateLayout, giveUp?: () => Promise<string | undefined>): Promise<void> {
  await waitFor(
    async () => ((await fetch(`http://${registryAddress(layout)}/v2/`).catch(() => undefined))?.ok ? true : undefined),
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, description: `the registry on ${registryAddress(layout)}`, giveUp },
  );
}

export async function stopRegistry(layout: StateLayout): Promise<void> {
  await stopRecordedProcess(layout, REGISTRY_PROCESS);
}

async function expectStatus(response: Response, expected: number, what: string): Promise<Response> {
  if (response.status !== expected) {
    throw new Error(`registry: ${what}: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`);
  }
  return response;
}

/**
 * Pushes an image with the registry API (blobs the registry lacks, then the manifest under the image's tag and
 * repository, its registry host left out: what a mirror is asked for). Does nothing when the tag already names the
 * same manifest digest. Returns whether anything was pushed.
 */
export async function pushImage(address: string, image: OciImage): Promise<boolean> {
  const { repository, tag } = parseImageReference(image.reference);
  const base = `http://${address}/v2/${repository}`;
  const request = (url: string | URL, init: RequestInit = {}) =>
    fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if ((await registryManifestDigest(address, image.reference)) === image.manifest.digest) return false;
  for (const blob of image.blobs) {
    if ((await request(`${base}/blobs/${blob.digest}`, { method: 'HEAD' })).ok) continue;
    const upload = await expectStatus(
      await request(`${base}/blobs/uploads/`, { method: 'POST' }),
      202,
      `starting the upload of ${blob.digest} to ${repository}`,
    );
    const location = new URL(upload.headers.get('location') ?? '', `http://${address}`);
    location.searchParams.set('digest', blob.digest);
    await expectStatus(
      await request(location, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(blob.content),
      }),
      201,
      `uploading ${blob.digest} to ${repository}`,
    );
  }
  await expectStatus(
    await request(`${base}/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': image.manifest.mediaType },
      body: new Uint8Array(image.manifest.content),
    }),
    201,
    `putting the manifest of ${image.reference}`,
  );
  return true;
}

/** The digest of the manifest the registry holds under the reference's repository and tag, if any. */
export async function registryManifestDigest(address: string, reference: string): Promise<string | undefined> {
  const { repository, tag } = parseImageReference(reference);
  const response = await fetch(`http://${address}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return response.ok ? (response.headers.get('docker-content-digest') ?? undefined) : undefined;
}

/** The repositories the registry holds. */
export async function registryCatalog(address: string): Promise<string[]> {
  const response = await expectStatus(await fetch(`http://${address}/v2/_catalog?n=1000`), 200, 'catalog');
  return ((await response.json()) as { repositories?: string[] }).repositories ?? [];
}
