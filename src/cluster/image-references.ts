import { COREDNS_VERSION, KINE_VERSION, KONNECTIVITY_VERSION, KUBERNETES_VERSION } from '../toolchain/versions.ts';

/** The tags kubeadm v1.35 asks for (`kubeadm config images list`): names must match exactly. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.1';
export const ETCD_IMAGE = 'registry.k8s.io/etcd:3.6.6-0';

export function kubernetesImage(component: string, version: string): string {
  return `registry.k8s.io/${component}:${version}`;
}

export const KUBE_PROXY_IMAGE = kubernetesImage('kube-proxy', KUBERNETES_VERSION);
/** kubeadm's CoreDNS Deployment: `registry.k8s.io/coredns/coredns:v1.13.1`, the toolchain's version. */
export const COREDNS_IMAGE = `registry.k8s.io/coredns/coredns:${COREDNS_VERSION}`;
export const KONNECTIVITY_SERVER_IMAGE = `registry.k8s.io/kas-network-proxy/proxy-server:${KONNECTIVITY_VERSION}`;
export const KONNECTIVITY_AGENT_IMAGE = `registry.k8s.io/kas-network-proxy/proxy-agent:${KONNECTIVITY_VERSION}`;
/**
 * The tests' workload (src/cluster/http-echo): GET / answers the pod's hostname, /dns?name=X resolves X through
 * the pod's resolver, /get?url=U fetches U. Listens on 8080. A fixed tag: pods that must see a rebuilt image
 * use `imagePullPolicy: Always`.
 */
export const HTTP_ECHO_IMAGE = 'docker.io/kamaji/http-echo:v1';
export const HTTP_ECHO_PORT = 8080;

/** A fully qualified reference split into registry host, repository and tag. */
export function parseImageReference(reference: string): { registry: string; repository: string; tag: string } {
  const slash = reference.indexOf('/');
  const colon = reference.lastIndexOf(':');
  if (slash <= 0 || colon < slash || !reference.slice(0, slash).includes('.')) {
    throw new Error(`not a fully qualified image reference with a tag: ${reference}`);
  }
  return {
    registry: reference.slice(0, slash),
    repository: reference.slice(slash + 1, colon),
    tag: reference.slice(colon + 1),
  };
}
/** The tenant pod's `kine` container (SQL DataStores): the toolchain's kine, as upstream names its image. */
export const KINE_IMAGE = `docker.io/rancher/kine:${KINE_VERSION}`;
