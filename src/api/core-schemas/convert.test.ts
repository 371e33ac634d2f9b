import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { JsonSchemaProps } from '../schema.ts';
import { convertDefinition, kubebuilderMarkers, type OpenApiNode, QUANTITY_PATTERN } from './convert.ts';
import { generate, moduleCacheHas, PINNED_MODULES, schemasFileText } from './generate.ts';
import { CORE_TYPE_NAMES, coreTypeSchema, SCHEMAS_FILE } from './index.ts';

const ref = (name: string) => ({ allOf: [{ $ref: `#/components/schemas/${name}` }] });
const definitions: Record<string, OpenApiNode> = {
  'io.k8s.api.core.v1.Port': {
    description: 'A port.',
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string', default: '', description: 'Required: its zero default is openapi-gen’s.' },
      protocol: { type: 'string', default: 'TCP' },
      hostIP: { type: 'string', default: '' },
      target: { ...ref('io.k8s.apimachinery.pkg.util.intstr.IntOrString'), description: 'Where to.' },
      limits: {
        type: 'object',
        additionalProperties: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' },
      },
      since: { ...ref('io.k8s.apimachinery.pkg.apis.meta.v1.Time'), description: 'When.' },
      selector: { ...ref('io.k8s.api.core.v1.Selector'), default: {}, description: 'Which.' },
      tags: {
        type: 'array',
        items: { type: 'string', default: '' },
        'x-kubernetes-list-type': 'set',
        'x-kubernetes-patch-strategy': 'merge',
      },
      error: { type: 'string' },
    },
  },
  'io.k8s.api.core.v1.Selector': {
    description: 'A selector.',
    type: 'object',
    properties: { key: { type: 'string' } },
    'x-kubernetes-map-type': 'atomic',
  },
};
const markers = (name: string) =>
  name === 'io.k8s.api.core.v1.Port' ? new Map([['error', { pattern: '^[A-Z]+$', maxLength: 316 }]]) : new Map();

describe('core type schemas from Kubernetes OpenAPI', () => {
  test('are converted the way controller-gen renders the same Go types', () => {
    const schema = convertDefinition('io.k8s.api.core.v1.Port', { definitions, markers }, { descriptions: true });
    const intOrString: JsonSchemaProps = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
    assert.deepEqual(schema, {
      description: 'A port.',
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', description: 'Required: its zero default is openapi-gen’s.' },
        protocol: { type: 'string', default: 'TCP' },
        hostIP: { type: 'string', default: '' },
        target: { ...intOrString, 'x-kubernetes-int-or-string': true, description: 'Where to.' },
        limits: {
          type: 'object',
          additionalProperties: { ...intOrString, 'x-kubernetes-int-or-string': true, pattern: QUANTITY_PATTERN },
        },
        since: { type: 'string', format: 'date-time', description: 'When.' },
        selector: {
          description: 'Which.',
          type: 'object',
          properties: { key: { type: 'string' } },
          'x-kubernetes-map-type': 'atomic',
        },
        tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        error: { type: 'string', pattern: '^[A-Z]+$', maxLength: 316 },
      },
    });
    const plain = convertDefinition('io.k8s.api.core.v1.Selector', { definitions, markers }, { descriptions: false });
    assert.deepEqual(plain, {
      type: 'object',
      properties: { key: { type: 'string' } },
      'x-kubernetes-map-type': 'atomic',
    });
  });

  test('anything a CRD schema cannot say, or the converter does not know, is an error', () => {
    const sources = (node: OpenApiNode) => ({ definitions: { 'io.k8s.X': node }, markers: () => new Map() });
    const convert = (node: OpenApiNode) => convertDefinition('io.k8s.X', sources(node), { descriptions: true });
    assert.throws(() => convert({ type: 'object', oneOf: [] }), /io\.k8s\.X: unexpected key oneOf/);
    assert.throws(() => convert({ type: 'object', properties: { self: ref('io.k8s.X') } }), /recursive/);
    assert.throws(() => convert({ type: 'object', properties: { y: ref('io.k8s.Y') } }), /no definition io\.k8s\.Y/);
  });

  test('+kubebuilder:validation markers are read from the Go fields they annotate', () => {
    const source = [
      'type Other struct {',
      '\t// +kubebuilder:validation:MaxLength=1',
      '\tType string `json:"type"`',
      '}',
      'type Condition struct {',
      '\t// type of condition.',
      '\t// +required',
      '\t// +kubebuilder:validation:Required',
      '\t// +kubebuilder:validation:Pattern=`^[a-z]+$`',
      '\t// +kubebuilder:validation:MaxLength=316',
      '\tType string `json:"type" protobuf:"bytes,1,opt,name=type"`',
      '\t// +kubebuilder:validation:Enum=True;False;Unknown',
      '\tStatus ConditionStatus `json:"status"`',
      '\t// no markers here',
      '\tMessage string `json:"message"`',
      '}',
    ].join('\n');
    assert.deepEqual(
      kubebuilderMarkers(source, 'Condition'),
      new Map<string, JsonSchemaProps>([
        ['type', { pattern: '^[a-z]+$', maxLength: 316 }],
        ['status', { enum: ['True', 'False', 'Unknown'] }],
      ]),
    );
    assert.throws(
      () =>
        kubebuilderMarkers(
          'type A struct {\n\t// +kubebuilder:validation:XValidation=x\n\tB string `json:"b"`\n}',
          'A',
        ),
      /marker XValidation/,
    );
  });

  test('schemas.json has every core type, structural and complete', () => {
    for (const name of CORE_TYPE_NAMES) {
      const untyped: string[] = [];
      const walk = (node: JsonSchemaProps, path: string): void => {
        if ('$ref' in node || node['x-kubernetes-preserve-unknown-fields']) untyped.push(`${path} is not expanded`);
        if (!node.type && !node['x-kubernetes-int-or-string']) untyped.push(`${path} has no type`);
        for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, `${path}.${key}`);
        if (node.items) walk(node.items, `${path}[]`);
        if (node.additionalProperties) walk(node.additionalProperties, `${path}{}`);
      };
      walk(coreTypeSchema(name), name);
      assert.deepEqual(untyped, []);
    }
    const toleration = coreTypeSchema('io.k8s.api.core.v1.Toleration');
    assert.deepEqual(toleration.properties?.tolerationSeconds, {
      description: toleration.properties?.tolerationSeconds?.description,
      type: 'integer',
      format: 'int64',
    });
  });

  test('schemas.json is exactly what generate.ts makes from the pinned sources', {
    skip: moduleCacheHas()
      ? false
      : `not all of ${PINNED_MODULES.map(({ path }) => path).join(', ')} are in the Go module cache`,
  }, () => {
    assert.equal(schemasFileText(generate({ offline: true })), readFileSync(SCHEMAS_FILE, 'utf8'));
  });
});
