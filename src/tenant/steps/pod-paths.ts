/** Where the Secrets appear inside the control-plane pod; kubeadm's layout. */
export const PKI_DIR = '/etc/kubernetes/pki';
export const KUBECONFIG_DIR = '/etc/kubernetes';
/** rw-r--r--: the API takes file modes as decimal numbers, so 0644 is 420 (0o644), never the literal 0o420. */
export const SECRET_FILE_MODE = 0o644;

/** File locations the component arguments refer to; tests point them at a temporary directory. */
export interface PodPaths {
  pki: string;
  kubeconfigs: string;
}

export const podPaths: PodPaths = { pki: PKI_DIR, kubeconfigs: KUBECONFIG_DIR };
