/**
 * The core Kubernetes (and Gateway API) types our API embeds, with their CRD schemas generated from Kubernetes' own
 * OpenAPI into schemas.json by generate.ts (run `node src/api/core-schemas/generate.ts` after changing this list or
 * the pinned versions). Their TypeScript types are the @kubernetes/client-node models.
 */
import { readFileSync } from 'node:fs';
import type {
  V1Affinity,
  V1Condition,
  V1Container,
  V1DeploymentCondition,
  V1DeploymentStrategy,
  V1IngressLoadBalancerStatus,
  V1LabelSelector,
  V1LoadBalancerStatus,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Toleration,
  V1TopologySpreadConstraint,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { JsonSchemaProps } from '../schema.ts';

/** Gateway API's ParentReference (sigs.k8s.io/gateway-api/apis/v1): which Gateway (listener) a route attaches to. */
export interface GatewayParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

/** Gateway API's RouteParentStatus: a route's status with one of its parents. client-node has no model for it. */
export interface RouteParentStatus {
  parentRef: GatewayParentReference;
  controllerName: string;
  conditions: V1Condition[];
}

/** Each core type by its OpenAPI definition name, with the TypeScript model of a value. */
export interface CoreTypes {
  'io.k8s.api.core.v1.Affinity': V1Affinity;
  'io.k8s.api.core.v1.Container': V1Container;
  'io.k8s.api.core.v1.LoadBalancerStatus': V1LoadBalancerStatus;
  'io.k8s.api.core.v1.PodSecurityContext': V1PodSecurityContext;
  'io.k8s.api.core.v1.ResourceRequirements': V1ResourceRequirements;
  'io.k8s.api.core.v1.SecurityContext': V1SecurityContext;
  'io.k8s.api.core.v1.Toleration': V1Toleration;
  'io.k8s.api.core.v1.TopologySpreadConstraint': V1TopologySpreadConstraint;
  'io.k8s.api.core.v1.Volume': V1Volume;
  'io.k8s.api.core.v1.VolumeMount': V1VolumeMount;
  'io.k8s.api.apps.v1.DeploymentCondition': V1DeploymentCondition;
  'io.k8s.api.apps.v1.DeploymentStrategy': V1DeploymentStrategy;
  'io.k8s.api.networking.v1.IngressLoadBalancerStatus': V1IngressLoadBalancerStatus;
  'io.k8s.apimachinery.pkg.apis.meta.v1.Condition': V1Condition;
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector': V1LabelSelector;
  'io.k8s.sigs.gateway-api.apis.v1.RouteParentStatus': RouteParentStatus;
}
export type CoreTypeName = keyof CoreTypes;

/** The Gateway API type, taken from the Gateway API's own CRD rather than Kubernetes' OpenAPI. */
export const GATEWAY_ROUTE_PARENT_STATUS = 'io.k8s.sigs.gateway-api.apis.v1.RouteParentStatus';

export const CORE_TYPE_NAMES: readonly CoreTypeName[] = [
  'io.k8s.api.core.v1.Affinity',
  'io.k8s.api.core.v1.Container',
  'io.k8s.api.core.v1.LoadBalancerStatus',
  'io.k8s.api.core.v1.PodSecurityContext',
  'io.k8s.api.core.v1.ResourceRequirements',
  'io.k8s.api.core.v1.SecurityContext',
  'io.k8s.api.core.v1.Toleration',
  'io.k8s.api.core.v1.TopologySpreadConstraint',
  'io.k8s.api.core.v1.Volume',
  'io.k8s.api.core.v1.VolumeMount',
  'io.k8s.api.apps.v1.DeploymentCondition',
  'io.k8s.api.apps.v1.DeploymentStrategy',
  'io.k8s.api.networking.v1.IngressLoadBalancerStatus',
  'io.k8s.apimachinery.pkg.apis.meta.v1.Condition',
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector',
  GATEWAY_ROUTE_PARENT_STATUS,
];

export const SCHEMAS_FILE = new URL('./schemas.json', import.meta.url);

/** What schemas.json holds: how it was made, and one structural schema per core type. */
export interface GeneratedSchemas {
  comment: string;
  sources: Record<string, string>;
  schemas: Record<CoreTypeName, JsonSchemaProps>;
}

let loaded: GeneratedSchemas | undefined;

/** The CRD schema of a core type: a fresh copy, free to change. */
export function coreTypeSchema(name: CoreTypeName): JsonSchemaProps {
  loaded ??= JSON.parse(readFileSync(SCHEMAS_FILE, 'utf8')) as GeneratedSchemas;
  const schema = loaded.schemas[name];
  if (!schema) throw new Error(`${name} is not in ${SCHEMAS_FILE.pathname}: run node src/api/core-schemas/generate.ts`);
  return structuredClone(schema);
}
