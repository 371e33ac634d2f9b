import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { KINE_IMAGE } from '../../cluster/image-references.ts';
import { type KineDriver, kineStorageEndpoint } from '../../datastore/kine-endpoint.ts';
import type { TenantContext } from '../context.ts';
import { objectNames } from '../names.ts';
import { mergeArgs } from './args.ts';
import { type PodPaths, podPaths, SECRET_FILE_MODE } from './pod-paths.ts';

/** kine serves the etcd API to the API server on loopback only, on etcd's client port. */
export const KINE_LISTEN_ADDRESS = '127.0.0.1:2379';
export const KINE_CERTIFICATE_DIR = '/etc/kine';
const VOLUME = 'kine-certificates';

/**
 * kine's storage endpoint, assembled by the kubelet from the `<tcp>-datastore-config` Secret's keys (the container's
 * environment), so that the password appears in neither the pod spec nor the arguments.
 */
export function kineEndpoint(driver: KineDriver): string {
  return kineStorageEndpoint(driver, {
    user: '$(DB_USER)',
    password: '$(DB_PASSWORD)',
    address: '$(DB_CONNECTION_STRING)',
    database: '$(DB_SCHEMA)',
  });
}

/**
 * The API server's etcd flags when kine stands in for etcd: kine on loopback over TLS. kine's certificate (in the
 * datastore certificate Secret, signed by the tenant CA) serves kine and is the API server's client certificate.
 */
export function kineApiServerFlags(paths: PodPaths = podPaths): Record<string, string> {
  return {
    'etcd-servers': `https://${KINE_LISTEN_ADDRESS}`,
    'etcd-cafile': `${paths.pki}/ca.crt`,
    'etcd-certfile': `${paths.pki}/etcd/server.crt`,
    'etcd-keyfile': `${paths.pki}/etcd/server.key`,
  };
}

export function kineFlags(directory: string = KINE_CERTIFICATE_DIR): Record<string, string> {
  return {
    'listen-address': KINE_LISTEN_ADDRESS,
    'server-cert-file': `${directory}/server.crt`,
    'server-key-file': `${directory}/server.key`,
    // Only the API server, holding a certificate from the tenant CA, may use it.
    'trusted-ca-file': `${directory}/tenant-ca.crt`,
    'ca-file': `${directory}/datastore-ca.crt`,
    // No metrics listener in the pod's network namespace.
    'metrics-bind-address': '0',
  };
}

/** What kine adds to the control-plane pod for a SQL DataStore; nothing for etcd. */
export function kinePodParts(context: TenantContext): { containers: V1Container[]; volumes: V1Volume[] } {
  const driver = context.datastore.driver;
  if (driver === 'etcd') return { containers: [], volumes: [] };
  const names = objectNames(context.name);
  const spec = context.deployment;
  const resources = spec.resources?.kine;
  return {
    containers: [
      {
        name: 'kine',
        image: KINE_IMAGE,
        imagePullPolicy: 'IfNotPresent',
        command: ['kine'],
        args: mergeArgs(kineFlags(), spec.extraArgs?.kine ?? []),
        envFrom: [{ secretRef: { name: names.datastoreConfigSecret } }],
        env: [{ name: 'KINE_ENDPOINT', value: kineEndpoint(driver) }],
        ...(resources ? { resources } : {}),
        volumeMounts: [{ name: VOLUME, mountPath: KINE_CERTIFICATE_DIR, readOnly: true }],
      },
    ],
    volumes: [
      {
        name: VOLUME,
        projected: {
          defaultMode: SECRET_FILE_MODE,
          sources: [
            { secret: { name: names.caSecret, items: [{ key: 'ca.crt', path: 'tenant-ca.crt' }] } },
            {
              secret: {
                name: names.datastoreCertificateSecret,
                items: [
                  { key: 'ca.crt', path: 'datastore-ca.crt' },
                  { key: 'server.crt', path: 'server.crt' },
                  { key: 'server.key', path: 'server.key' },
                ],
              },
            },
          ],
        },
      },
    ],
  };
}
