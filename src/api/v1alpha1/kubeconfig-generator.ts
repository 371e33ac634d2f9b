import type { V1ObjectMeta } from '@kubernetes/client-node';
import { array, integer, kubernetesObject, object, required, type Static, string } from '../schema.ts';
import { AGE_COLUMN, type API_VERSION, type KindDefinition } from './group-version.ts';

export const DEFAULT_CONTROL_PLANE_ENDPOINT_KEY = 'admin.svc';

/** A static string, or one read from the TenantControlPlane at a dotted path; exactly one of the two. */
function compoundValue(description?: string) {
  return object(
    {
      stringValue: string({ description: 'A fixed value.' }),
      fromDefinition: string({
        description: 'A dotted path into the TenantControlPlane the value is read from, e.g. metadata.name.',
      }),
    },
    {
      description,
      validations: [
        {
          rule: '(has(self.stringValue) || has(self.fromDefinition)) && !(has(self.stringValue) && has(self.fromDefinition))',
          message: 'Either stringValue or fromDefinition must be set, but not both.',
        },
      ],
    },
  );
}
export type CompoundValue = Static<ReturnType<typeof compoundValue>>;

export const KubeconfigGeneratorSpecSchema = object({
  namespaceSelector: kubernetesObject('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector', {
    description: 'Namespaces whose TenantControlPlanes get a kubeconfig (all when empty).',
  }),
  tenantControlPlaneSelector: kubernetesObject('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector', {
    description: 'TenantControlPlanes that get a kubeconfig (all when empty).',
  }),
  user: required(compoundValue('The user: the common name of the client certificate.')),
  groups: array(compoundValue(), {
    description: 'The groups: the organizations of the client certificate.',
  }),
  controlPlaneEndpointFrom: string({
    default: DEFAULT_CONTROL_PLANE_ENDPOINT_KEY,
    description: 'Key of the <tenant>-admin-kubeconfig Secret whose server address the kubeconfig uses.',
  }),
});
export type KubeconfigGeneratorSpec = Static<typeof KubeconfigGeneratorSpecSchema>;

export const KubeconfigGeneratorStatusSchema = object(
  {
    resources: required(integer({ default: 0, description: 'How many TenantControlPlanes were selected.' })),
    availableResources: required(integer({ default: 0, description: 'How many kubeconfigs were generated.' })),
    errors: array(
      object({
        resource: required(string({ description: 'The TenantControlPlane (namespace/name).' })),
        message: required(string({ description: 'Why its kubeconfig could not be generated.' })),
      }),
      { description: 'The kubeconfigs that could not be generated, and why.' },
    ),
    observedGeneration: integer({ format: 'int64', description: 'The metadata.generation last reconciled.' }),
  },
  { description: 'What the last generation run produced.' },
);
export type KubeconfigGeneratorStatus = Static<typeof KubeconfigGeneratorStatusSchema>;

export interface KubeconfigGenerator {
  apiVersion: typeof API_VERSION;
  kind: 'KubeconfigGenerator';
  metadata: V1ObjectMeta;
  spec: KubeconfigGeneratorSpec;
  status?: KubeconfigGeneratorStatus;
}

export const kubeconfigGeneratorKind: KindDefinition = {
  kind: 'KubeconfigGenerator',
  plural: 'kubeconfiggenerators',
  singular: 'kubeconfiggenerator',
  shortNames: ['kc'],
  categories: ['kamaji'],
  scope: 'Cluster',
  description: 'Generates a kubeconfig, for a given user and groups, in every selected TenantControlPlane namespace.',
  spec: KubeconfigGeneratorSpecSchema,
  status: KubeconfigGeneratorStatusSchema,
  printerColumns: [AGE_COLUMN],
};
