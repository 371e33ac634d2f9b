/** The tags kubeadm v1.35 asks for (`kubeadm config images list`): names must match exactly, nothing is pulled. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.1';
export const ETCD_IMAGE = 'registry.k8s.io/etcd:3.6.6-0';

export function kubernetesImage(component: string, version: string): string {
  return `registry.k8s.io/${component}:${version}`;
}
