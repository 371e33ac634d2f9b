import { applyIfChanged } from '../../controller/apply.ts';
import { builtinResources } from '../../controller/kube-client.ts';
import { objectNames } from '../names.ts';
import { KONNECTIVITY_SERVICE_PORT_NAME } from '../steps/konnectivity.ts';
import { desiredService, observedEndpoint } from '../steps/service.ts';
import { konnectivityStatus } from './konnectivity.ts';
import { owned } from './owned.ts';
import { Blocked, type Phase, type PipelineDependencies, RETRY_SOON_MS, type TenantReconcile } from './phase.ts';

/** The tenant API server's Service, and the address clients reach it on once the Service has one. */
export class ServicePhase implements Phase {
  readonly name = 'service';
  readonly condition = 'EndpointReady' as const;
  private readonly deps: PipelineDependencies;

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  async run(reconcile: TenantReconcile) {
    const { spec, tcp } = reconcile;
    const names = objectNames(reconcile.name);
    const service = spec.controlPlane.service;
    const desired = owned(
      tcp,
      desiredService({
        tenant: { name: reconcile.name, namespace: reconcile.namespace, port: spec.networkProfile.port },
        serviceType: service.serviceType,
        additionalMetadata: service.additionalMetadata,
        loadBalancerSourceRanges: spec.networkProfile.loadBalancerSourceRanges,
        loadBalancerClass: spec.networkProfile.loadBalancerClass,
        konnectivityPort: spec.addons?.konnectivity?.server.port,
      }),
    );
    const live = this.deps.observed.service(reconcile.namespace, names.service);
    const result = await applyIfChanged(this.deps.client, builtinResources.service, desired, live);
    const current = result.applied ? result.object : live;
    const endpoint =
      current &&
      observedEndpoint(current, {
        explicitAddress: spec.networkProfile.address,
        nodeAddress: service.serviceType === 'NodePort' ? await this.deps.nodeAddress() : undefined,
      });
    if (!current || !endpoint) {
      throw new Blocked(
        {
          status: 'False',
          reason: 'EndpointPending',
          message: `Service ${names.service} has no reachable address yet (${service.serviceType}); waiting for it`,
        },
        RETRY_SOON_MS,
      );
    }
    reconcile.endpoint = { service: current, ...endpoint };
    const konnectivityPort = current.spec?.ports?.find((port) => port.name === KONNECTIVITY_SERVICE_PORT_NAME);
    reconcile.observe(
      konnectivityStatus(tcp, spec.addons?.konnectivity !== undefined, {
        service: {
          name: names.service,
          namespace: reconcile.namespace,
          port: konnectivityPort?.port ?? spec.addons?.konnectivity?.server.port ?? 0,
          loadBalancer: current.status?.loadBalancer ?? {},
        },
      }),
    );
    reconcile.observe({
      controlPlaneEndpoint: `${endpoint.address}:${endpoint.port}`,
      kubernetesResources: {
        service: {
          name: names.service,
          namespace: reconcile.namespace,
          port: endpoint.port,
          loadBalancer: current.status?.loadBalancer ?? {},
        },
      },
    });
    return {
      condition: {
        status: 'True',
        reason: 'AddressAssigned',
        message: `the API server is reached at ${endpoint.address}:${endpoint.port} (${service.serviceType} Service ${names.service})`,
      },
    } as const;
  }
}
