import { loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { KINDS, customResourceDefinitionManifest as manifest } from './crd-manifests.ts';

export { KINDS };

/**
 * Our CRDs as @kubernetes/client-node models, ready for ApiextensionsV1Api. The models name schema keys their own
 * way (`_default`, `x_kubernetes_validations`) except inside `items` and `additionalProperties`, which they keep as
 * plain JSON; loading the wire form with the client's own deserializer (JSON is YAML) gets both right.
 */
export function customResourceDefinitions(): V1CustomResourceDefinition[] {
  return KINDS.map((kind) => loadYaml<V1CustomResourceDefinition>(JSON.stringify(manifest(kind))));
}

/** The CRDs as multi-document YAML, what `kamaji crds` prints. */
export function customResourceDefinitionsYaml(): string {
  // No line folding: descriptions stay on one line each.
  return KINDS.map((kind) => stringify(manifest(kind), { lineWidth: 0 })).join('---\n');
}
