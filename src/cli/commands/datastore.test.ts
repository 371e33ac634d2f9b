import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kamaji } from '../../../test/support/kamaji-cli.ts';

const asRoot = process.getuid?.() === 0;

test('an unknown driver is refused naming the choices, by up and by datastore add', { skip: !asRoot }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-cli-'));
  try {
    const up = await kamaji('up', '--datastore=oracle', `--state-dir=${join(work, 'never')}`);
    assert.equal(up.code, 2, up.stderr);
    assert.match(up.stderr, /--datastore oracle: choose one of etcd, postgresql, mysql, nats/);
    const nodes = await kamaji('up', '--admin-nodes=0', `--state-dir=${join(work, 'never')}`);
    assert.match(nodes.stderr, /--admin-nodes 0: give a whole number from 1 to/);
    const add = await kamaji('datastore', 'add', 'oracle', `--state-dir=${join(work, 'never')}`);
    assert.equal(add.code, 2);
    assert.match(add.stderr, /driver oracle: choose one of etcd, postgresql, mysql, nats/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('without a cluster, datastore add says what to run and starts nothing; list shows no datastore', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-cli-'));
  const stateDir = join(work, 'nothing-here');
  try {
    if (asRoot) {
      const add = await kamaji('datastore', 'add', 'postgresql', `--state-dir=${stateDir}`);
      assert.equal(add.code, 1);
      assert.match(add.stderr, /no local admin cluster in .*: run "kamaji up --state-dir/);
      assert.ok(!existsSync(join(stateDir, 'datastores')), 'no datastore claimed');
    }
    const list = await kamaji('datastore', 'list', `--state-dir=${stateDir}`);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, 'NAME  DRIVER  ENDPOINT  SERVER  USED BY\n');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
