/**
 * The pinned toolchain: every binary Kamaji runs, where its source lives on the Go module proxy, and where its
 * official release is published. docs/toolchain.md explains why each version was chosen.
 */

/** One Kubernetes release serves both the admin node (kubelet 1.35 is the last to support containerd 1.x) and the
 * tenant default (upstream Kamaji defaults to 1.35), so a cold machine builds Kubernetes once. */
export const KUBERNETES_VERSION = 'v1.35.4';
export const ETCD_VERSION = 'v3.6.6';
export const KINE_VERSION = 'v0.17.5';
export const KONNECTIVITY_VERSION = 'v0.34.0';
export const COREDNS_VERSION = 'v1.13.1';
export const HELM_VERSION = 'v3.22.0';
export const NATS_SERVER_VERSION = 'v2.15.2';
/** The Kubernetes minor helm v3.22.0's release build is stamped with (its client-go v0.37): `helm template` and
 * `helm lint` assume it when no cluster is asked. */
const HELM_KUBERNETES_MINOR = '37';

/** How to build a binary from a module on the Go module proxy. */
export interface GoSource {
  module: string;
  version: string;
  /** The main package to build, as an import path. */
  package: string;
  /** Version for modules that the source module replaces with a local directory (Kubernetes' staging modules). */
  localReplaceVersion: string;
  /** Extra `-X` settings so that `--version` prints the pinned version. */
  versionVariables: Readonly<Record<string, string>>;
}

/** How the official release publishes a checksum for a download. */
export type ChecksumSource =
  /** A file beside the binary, holding its hex SHA-256 (optionally followed by a file name). */
  | { kind: 'sidecar'; url: string }
  /** A file of `<sha256>  <file name>` lines covering several downloads. */
  | { kind: 'list'; url: string; fileName: string };

export interface ReleaseDownload {
  url: string;
  checksum: ChecksumSource;
  /** For a .tar.gz release: the binary's path inside the archive. */
  archiveMember?: string;
}

export interface Component {
  name: string;
  version: string;
  source: GoSource;
  /** Absent where the project publishes no binaries (konnectivity ships images only). */
  download?: ReleaseDownload;
}

const ARCH = 'amd64';

function kubernetesComponent(name: string): Component {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const release = `https://dl.k8s.io/release/${KUBERNETES_VERSION}/bin/linux/${ARCH}/${name}`;
  return {
    name,
    version: KUBERNETES_VERSION,
    source: {
      module: 'k8s.io/kubernetes',
      version: KUBERNETES_VERSION,
      package: `k8s.io/kubernetes/cmd/${name}`,
      localReplaceVersion: `v0.${minor}.${KUBERNETES_VERSION.split('.')[2]}`,
      versionVariables: {
        'k8s.io/component-base/version.gitVersion': KUBERNETES_VERSION,
        'k8s.io/component-base/version.gitMajor': major ?? '',
        'k8s.io/component-base/version.gitMinor': minor ?? '',
        'k8s.io/component-base/version.gitTreeState': 'clean',
      },
    },
    download: { url: release, checksum: { kind: 'sidecar', url: `${release}.sha256` } },
  };
}

function etcdComponent(name: 'etcd' | 'etcdctl'): Component {
  const releaseBase = `https://github.com/etcd-io/etcd/releases/download/${ETCD_VERSION}`;
  const archive = `etcd-${ETCD_VERSION}-linux-${ARCH}`;
  const module = name === 'etcd' ? 'go.etcd.io/etcd/server/v3' : 'go.etcd.io/etcd/etcdctl/v3';
  return {
    name,
    version: ETCD_VERSION,
    source: { module, version: ETCD_VERSION, package: module, localReplaceVersion: ETCD_VERSION, versionVariables: {} },
    download: {
      url: `${releaseBase}/${archive}.tar.gz`,
      checksum: { kind: 'list', url: `${releaseBase}/SHA256SUMS`, fileName: `${archive}.tar.gz` },
      archiveMember: `${archive}/${name}`,
    },
  };
}

function konnectivityComponent(name: 'konnectivity-server' | 'konnectivity-agent'): Component {
  const module = 'sigs.k8s.io/apiserver-network-proxy';
  return {
    name,
    version: KONNECTIVITY_VERSION,
    source: {
      module,
      version: KONNECTIVITY_VERSION,
      package: `${module}/cmd/${name === 'konnectivity-server' ? 'server' : 'agent'}`,
      localReplaceVersion: KONNECTIVITY_VERSION,
      versionVariables: {},
    },
  };
}

const kineRelease = `https://github.com/k3s-io/kine/releases/download/${KINE_VERSION}`;
const corednsRelease = `https://github.com/coredns/coredns/releases/download/${COREDNS_VERSION}`;
const corednsArchive = `coredns_${COREDNS_VERSION.slice(1)}_linux_${ARCH}.tgz`;

const helmRelease = `https://get.helm.sh/helm-${HELM_VERSION}-linux-${ARCH}.tar.gz`;

function helmComponent(): Component {
  const module = 'helm.sh/helm/v3';
  // The same -X settings as helm's Makefile, so the binary reports what the official release reports.
  const kubernetesVersion = (pkg: string) => ({
    [`${module}/${pkg}.k8sVersionMajor`]: '1',
    [`${module}/${pkg}.k8sVersionMinor`]: HELM_KUBERNETES_MINOR,
  });
  return {
    name: 'helm',
    version: HELM_VERSION,
    source: {
      module,
      version: HELM_VERSION,
      package: `${module}/cmd/helm`,
      localReplaceVersion: HELM_VERSION,
      versionVariables: {
        [`${module}/internal/version.version`]: HELM_VERSION,
        [`${module}/internal/version.gitTreeState`]: 'clean',
        ...kubernetesVersion('pkg/lint/rules'),
        ...kubernetesVersion('pkg/chartutil'),
      },
    },
    download: {
      url: helmRelease,
      checksum: { kind: 'sidecar', url: `${helmRelease}.sha256sum` },
      archiveMember: `linux-${ARCH}/helm`,
    },
  };
}

export const COMPONENTS: readonly Component[] = [
  ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubeadm', 'kubectl'].map(
    kubernetesComponent,
  ),
  etcdComponent('etcd'),
  etcdComponent('etcdctl'),
  {
    name: 'kine',
    version: KINE_VERSION,
    source: {
      module: 'github.com/k3s-io/kine',
      version: KINE_VERSION,
      package: 'github.com/k3s-io/kine',
      localReplaceVersion: KINE_VERSION,
      versionVariables: { 'github.com/k3s-io/kine/pkg/version.Version': KINE_VERSION },
    },
    download: {
      url: `${kineRelease}/kine-${ARCH}`,
      checksum: { kind: 'list', url: `${kineRelease}/sha256sum-${ARCH}.txt`, fileName: `kine-${ARCH}` },
    },
  },
  konnectivityComponent('konnectivity-server'),
  konnectivityComponent('konnectivity-agent'),
  {
    name: 'coredns',
    version: COREDNS_VERSION,
    source: {
      module: 'github.com/coredns/coredns',
      version: COREDNS_VERSION,
      package: 'github.com/coredns/coredns',
      localReplaceVersion: COREDNS_VERSION,
      versionVariables: {},
    },
    download: {
      url: `${corednsRelease}/${corednsArchive}`,
      checksum: { kind: 'sidecar', url: `${corednsRelease}/${corednsArchive}.sha256` },
      archiveMember: 'coredns',
    },
  },
  helmComponent(),
  {
    // Serves NATS DataStores (kamaji up --datastore nats, the integration suite); no release download is pinned.
    name: 'nats-server',
    version: NATS_SERVER_VERSION,
    source: {
      module: 'github.com/nats-io/nats-server/v2',
      version: NATS_SERVER_VERSION,
      package: 'github.com/nats-io/nats-server/v2',
      localReplaceVersion: NATS_SERVER_VERSION,
      versionVariables: {},
    },
  },
];

export function componentNamed(name: string): Component {
  const component = COMPONENTS.find((candidate) => candidate.name === name);
  if (!component) {
    throw new Error(`unknown toolchain component "${name}"; known: ${COMPONENTS.map((c) => c.name).join(', ')}`);
  }
  return component;
}
