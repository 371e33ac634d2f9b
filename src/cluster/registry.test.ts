import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { containerdConfig } from './containerd.ts';
import {
  COREDNS_IMAGE,
  ETCD_IMAGE,
  HTTP_ECHO_IMAGE,
  KINE_IMAGE,
  KONNECTIVITY_AGENT_IMAGE,
  KONNECTIVITY_SERVER_IMAGE,
  KUBE_PROXY_IMAGE,
  PAUSE_IMAGE,
  parseImageReference,
} from './image-references.ts';
import { binaryImage, buildImage } from './images.ts';
import {
  MIRRORED_REGISTRIES,
  pushImage,
  registryAddress,
  registryConfig,
  registryMirror,
  registryStorageDir,
} from './registry.ts';
import { stateLayout } from './state.ts';

const layout = stateLayout('/var/lib/kamaji');

test('the registry listens on the node address and stores under the state dir', () => {
  assert.equal(registryAddress(layout), `${layout.network.nodeAddress}:5000`);
  const config = registryConfig(layout);
  assert.match(config, new RegExp(`^ {2}addr: "${layout.network.nodeAddress.replaceAll('.', '\\.')}:5000"$`, 'm'));
  assert.match(config, /^ {4}rootdirectory: "\/var\/lib\/kamaji\/registry"$/m);
  assert.ok(registryStorageDir(layout).startsWith(`${layout.root}/`));
});

test('every registry our images are named after is mirrored to the instance registry', () => {
  const mirror = registryMirror(layout);
  assert.equal(mirror.endpoint, `http://${layout.network.nodeAddress}:5000`);
  assert.deepEqual([...mirror.registries], [...MIRRORED_REGISTRIES]);
  const config = containerdConfig(layout, { mirror });
  assert.ok(config.includes('registry.mirrors."registry.k8s.io"]'));
  assert.ok(config.includes('registry.mirrors."docker.io"]'));
});

test('a push sends each missing blob then the manifest, under the repository without the registry host', async () => {
  const requests: string[] = [];
  const stored = new Set<string>();
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://registry');
    requests.push(`${request.method} ${url.pathname}`);
    request.resume();
    request.on('end', () => {
      if (request.method === 'HEAD') return response.writeHead(stored.has(url.pathname) ? 200 : 404).end();
      if (request.method === 'POST') return response.writeHead(202, { location: '/upload/1' }).end();
      if (request.method === 'PUT' && url.pathname === '/upload/1') {
        stored.add(`/v2/kamaji/tool/blobs/${url.searchParams.get('digest')}`);
        return response.writeHead(201).end();
      }
      stored.add(url.pathname);
      response.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const image = await buildImage(binaryImage('docker.io/kamaji/tool:v1', '/usr/bin/true', 'tool'));
    assert.equal(await pushImage(address, image), true);
    assert.deepEqual(requests, [
      'HEAD /v2/kamaji/tool/manifests/v1',
      ...image.blobs.flatMap((blob) => [
        `HEAD /v2/kamaji/tool/blobs/${blob.digest}`,
        'POST /v2/kamaji/tool/blobs/uploads/',
        'PUT /upload/1',
      ]),
      'PUT /v2/kamaji/tool/manifests/v1',
    ]);
  } finally {
    server.close();
  }
});

test('every image we name comes from a mirrored registry', () => {
  const references = [
    PAUSE_IMAGE,
    ETCD_IMAGE,
    KUBE_PROXY_IMAGE,
    COREDNS_IMAGE,
    KONNECTIVITY_SERVER_IMAGE,
    KONNECTIVITY_AGENT_IMAGE,
    KINE_IMAGE,
    HTTP_ECHO_IMAGE,
  ];
  for (const reference of references) {
    assert.ok((MIRRORED_REGISTRIES as readonly string[]).includes(parseImageReference(reference).registry), reference);
  }
});
