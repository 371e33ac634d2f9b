import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { IPTABLES_COMMANDS, kubeProxyImage, parseLddPaths, XTABLES_MULTI } from './cluster-images.ts';
import { KUBE_PROXY_IMAGE, parseImageReference } from './image-references.ts';
import { imageLayerTar } from './images.ts';

const run = promisify(execFile);

test('ldd output: every library path and the loader, once, without the vdso', () => {
  const output = `/usr/sbin/xtables-nft-multi:
\tlinux-vdso.so.1 (0x00007ffd5a9f1000)
\tlibxtables.so.12 => /lib/x86_64-linux-gnu/libxtables.so.12 (0x00007f1a2b7c4000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1a2b5e3000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f1a2b80c000)
/usr/lib/x86_64-linux-gnu/xtables/libxt_conntrack.so:
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1a2b5e3000)
\tlibnetfilter_conntrack.so.3 => /lib/x86_64-linux-gnu/libnetfilter_conntrack.so.3 (0x00007f1a2b5e3000)
`;
  assert.deepEqual(parseLddPaths(output), [
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib/x86_64-linux-gnu/libnetfilter_conntrack.so.3',
    '/lib/x86_64-linux-gnu/libxtables.so.12',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
});

test('every iptables name kube-proxy probes is in the image', () => {
  for (const name of [
    'iptables',
    'iptables-save',
    'iptables-restore',
    'ip6tables',
    'ip6tables-save',
    'ip6tables-restore',
  ]) {
    assert.ok(IPTABLES_COMMANDS.includes(name), name);
  }
});

test('references split into registry, repository and tag; short names are refused', () => {
  assert.deepEqual(parseImageReference('registry.k8s.io/kas-network-proxy/proxy-server:v0.34.0'), {
    registry: 'registry.k8s.io',
    repository: 'kas-network-proxy/proxy-server',
    tag: 'v0.34.0',
  });
  assert.deepEqual(parseImageReference('docker.io/kamaji/http-echo:v1'), {
    registry: 'docker.io',
    repository: 'kamaji/http-echo',
    tag: 'v1',
  });
  assert.throws(() => parseImageReference('kamaji/http-echo:v1'), /fully qualified/);
});

test("the kube-proxy image's iptables (nf_tables backend) runs from the image's files alone", {
  skip: !existsSync(XTABLES_MULTI) && 'needs Debian iptables',
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-kube-proxy-image-'));
  try {
    await writeFile(join(dir, 'kube-proxy'), '#!/bin/true\n');
    const layer = await imageLayerTar(await kubeProxyImage(join(dir, 'kube-proxy')));
    t.diagnostic(`layer: ${(layer.length / 2 ** 20).toFixed(1)} MiB`);
    await writeFile(join(dir, 'layer.tar'), layer);
    const { stdout } = await run('tar', ['-tvf', join(dir, 'layer.tar')]);
    const lines = stdout.trim().split('\n');
    const member = (path: string) =>
      lines.find((line) => line.split(' ').includes(path) || line.includes(` ${path} -> `));
    assert.match(member('usr/sbin/iptables') ?? '', /usr\/sbin\/iptables -> xtables-nft-multi$/);
    assert.match(member('usr/sbin/ip6tables-restore') ?? '', /-> xtables-nft-multi$/);
    assert.ok(member('usr/sbin/xtables-nft-multi'), 'the multi binary');
    // The loader at the path the binary names, through the host's own links (merged /usr on Debian 12).
    assert.match(member('lib64') ?? '', /lib64 -> usr\/lib64$/);
    assert.ok(member('usr/lib64/ld-linux-x86-64.so.2'), 'the loader');
    assert.ok(member('usr/lib/x86_64-linux-gnu/xtables/libxt_conntrack.so'), 'the extensions');
    assert.ok(member('usr/local/bin/kube-proxy'), 'kube-proxy');
    assert.ok(member('etc/protocols'), '/etc/protocols');
    assert.equal(parseImageReference(KUBE_PROXY_IMAGE).repository, 'kube-proxy');

    if (process.getuid?.() !== 0) return t.diagnostic('not root: the layer is not run');
    const root = join(dir, 'root');
    await run('mkdir', [root]);
    await run('tar', ['-xf', join(dir, 'layer.tar'), '-C', root]);
    const version = await run('chroot', [root, '/usr/sbin/iptables', '--version']);
    assert.match(version.stdout, /^iptables v1\.\d+\.\d+ \(nf_tables\)/);
    // In a fresh network namespace: lists the (empty) nat table through nf_tables and the extensions.
    const listed = await run('unshare', ['--net', 'chroot', root, '/usr/sbin/iptables-save', '-t', 'nat']);
    assert.match(listed.stdout, /^\*nat$/m);
    const shell = await run('unshare', ['--net', 'chroot', root, '/bin/sh', '-c', 'true']).catch(
      (error: Error) => error,
    );
    assert.ok(shell instanceof Error, 'no shell in the image: only what was listed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
