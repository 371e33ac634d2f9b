import type { JsonSchemaProps } from './schema.ts';
import { dataStoreKind } from './v1alpha1/datastore.ts';
import { GROUP, type KindDefinition, VERSION } from './v1alpha1/group-version.ts';
import { kubeconfigGeneratorKind } from './v1alpha1/kubeconfig-generator.ts';
import { tenantControlPlaneKind } from './v1alpha1/tenant-control-plane.ts';

export const KINDS: readonly KindDefinition[] = [tenantControlPlaneKind, dataStoreKind, kubeconfigGeneratorKind];

/** A CRD as the API server takes it on the wire (and as `kubectl apply -f` reads it). */
export function customResourceDefinitionManifest(kind: KindDefinition) {
  const openAPIV3Schema: JsonSchemaProps = {
    description: kind.description,
    type: 'object',
    properties: {
      apiVersion: { type: 'string', description: 'Versioned schema of this object.' },
      kind: { type: 'string', description: 'Kind of this object.' },
      metadata: { type: 'object' },
      spec: kind.spec.json,
      status: kind.status.json,
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: kind.shortNames,
        categories: kind.categories,
      },
      scope: kind.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema },
          subresources: { status: {}, scale: kind.scale },
          additionalPrinterColumns: kind.printerColumns,
        },
      ],
    },
  };
}
