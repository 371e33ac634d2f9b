import type { V1Service } from '@kubernetes/client-node';
import { objectNames, ownedLabels } from '../names.ts';
import { konnectivityServicePort } from './konnectivity.ts';

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

export interface ServiceInput {
  /** The tenant's name and namespace, and the API server port the Service exposes. */
  tenant: { name: string; namespace: string; port: number };
  serviceType: ServiceType;
  additionalMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  loadBalancerSourceRanges?: readonly string[];
  loadBalancerClass?: string;
  /** spec.addons.konnectivity.server.port, when Konnectivity is enabled: a second port, after the API server's. */
  konnectivityPort?: number;
}

const NODE_PORT_RANGE = { min: 30000, max: 32767 };

/** The Service in front of the tenant API server pods; its selector is the Deployment's pod labels. */
export function desiredService(input: ServiceInput): V1Service {
  const { tenant, serviceType } = input;
  const port = tenant.port;
  // As upstream: with NodePort, the network profile's port is the node port when it lies in the node-port range.
  const nodePort =
    serviceType === 'NodePort' && port >= NODE_PORT_RANGE.min && port <= NODE_PORT_RANGE.max ? port : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: objectNames(tenant.name).service,
      namespace: tenant.namespace,
      labels: { ...input.additionalMetadata?.labels, ...ownedLabels(tenant.name, 'service') },
      ...(input.additionalMetadata?.annotations ? { annotations: input.additionalMetadata.annotations } : {}),
    },
    spec: {
      type: serviceType,
      selector: ownedLabels(tenant.name, 'deployment'),
      ports: [
        { name: 'kube-apiserver', protocol: 'TCP', port, targetPort: port, ...(nodePort ? { nodePort } : {}) },
        ...(input.konnectivityPort === undefined ? [] : [konnectivityServicePort(input.konnectivityPort, serviceType)]),
      ],
      ...(serviceType === 'LoadBalancer' && input.loadBalancerSourceRanges?.length
        ? { loadBalancerSourceRanges: [...input.loadBalancerSourceRanges] }
        : {}),
      ...(serviceType === 'LoadBalancer' && input.loadBalancerClass
        ? { loadBalancerClass: input.loadBalancerClass }
        : {}),
    },
  };
}

/**
 * Where clients reach the API server, read from the live Service: the load balancer's address, a node port on
 * the given node address, or the cluster IP. Undefined while it is not known yet (a pending load balancer).
 */
export function observedEndpoint(
  service: V1Service,
  options: { nodeAddress?: string; explicitAddress?: string },
): { address: string; port: number } | undefined {
  const type = service.spec?.type ?? 'ClusterIP';
  const servicePort = service.spec?.ports?.[0];
  if (!servicePort) return undefined;
  if (type === 'LoadBalancer') {
    const ingress = service.status?.loadBalancer?.ingress?.[0];
    const address = options.explicitAddress || ingress?.ip || ingress?.hostname;
    return address ? { address, port: servicePort.port } : undefined;
  }
  if (type === 'NodePort') {
    const address = options.explicitAddress || options.nodeAddress;
    return address && servicePort.nodePort ? { address, port: servicePort.nodePort } : undefined;
  }
  const address = options.explicitAddress || service.spec?.clusterIP;
  return address && address !== 'None' ? { address, port: servicePort.port } : undefined;
}
