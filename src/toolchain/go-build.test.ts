import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goBuildArgs, localReplacements, wrapperGoMod } from './go-build.ts';
import { componentNamed } from './versions.ts';

const kubernetesGoMod = `module k8s.io/kubernetes

go 1.25.0

require (
	github.com/blang/semver/v4 v4.0.0
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/example/fork => github.com/example/fork v1.2.3
)
`;

test('local replacements are the staging modules, not replacements by other modules', () => {
  assert.deepEqual(localReplacements(kubernetesGoMod), ['k8s.io/api', 'k8s.io/client-go']);
  const etcdGoMod = [
    'module go.etcd.io/etcd/server/v3',
    'require go.etcd.io/etcd/api/v3 v3.6.6',
    'replace go.etcd.io/etcd/api/v3 => ../api',
    'replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY',
  ].join('\n');
  assert.deepEqual(localReplacements(etcdGoMod), ['go.etcd.io/etcd/api/v3'], 'guards are not replacements to make');
});

test('the wrapper module pins Kubernetes and maps each staging module to its published version', () => {
  const source = componentNamed('kube-apiserver').source;
  const goMod = wrapperGoMod(source, kubernetesGoMod);
  assert.match(goMod, /^require k8s\.io\/kubernetes v1\.35\.4$/m);
  assert.match(goMod, /^\tk8s\.io\/api => k8s\.io\/api v0\.35\.4$/m);
  assert.match(goMod, /^\tk8s\.io\/client-go => k8s\.io\/client-go v0\.35\.4$/m);
  assert.match(goMod, /^go 1\.25\.0$/m);
  assert.doesNotMatch(goMod, /example\/fork/);
});

test('the build injects the pinned version so that --version prints it', () => {
  const args = goBuildArgs(componentNamed('kubelet').source, '/out/kubelet');
  const ldflags = args[args.indexOf('-ldflags') + 1] ?? '';
  assert.match(ldflags, /-X k8s\.io\/component-base\/version\.gitVersion=v1\.35\.4/);
  assert.match(ldflags, /-X k8s\.io\/component-base\/version\.gitMinor=35/);
  assert.equal(args.at(-1), 'k8s.io/kubernetes/cmd/kubelet');
  assert.ok(args.includes('-trimpath'));
});
