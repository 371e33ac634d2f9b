import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatJoinCommand, parseJoinCommand } from './join.ts';

const printed =
  'kubeadm join 172.30.3.2:31443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:e428b6 \n';

test('the join command kubeadm prints is taken apart and put back together unchanged', () => {
  const command = parseJoinCommand(printed);
  assert.deepEqual(command, {
    endpoint: '172.30.3.2:31443',
    token: 'abcdef.0123456789abcdef',
    caCertHash: 'sha256:e428b6',
  });
  assert.equal(formatJoinCommand(command), printed.trim());
});

test('output that is not a join command is refused, quoting it', () => {
  assert.throws(() => parseJoinCommand('error: no token\n'), /kubeadm printed no join command: "error: no token"/);
  assert.throws(() => parseJoinCommand('kubeadm join --token x --discovery-token-ca-cert-hash y'), /no join command/);
});
