import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coreTypeSchema } from './core-schemas/index.ts';
import {
  anyValue,
  array,
  boolean,
  integer,
  intOrString,
  kubernetesObject,
  nullable,
  object,
  record,
  required,
  type Static,
  string,
  stringEnum,
  withDefaults,
} from './schema.ts';

const Example = object(
  {
    name: required(string({ minLength: 1, description: 'The name.' })),
    mode: stringEnum(['fast', 'safe'], { default: 'safe' }),
    port: integer({ format: 'int32', minimum: 1, maximum: 65535, default: 6443 }),
    enabled: boolean(),
    target: intOrString(),
    tags: array(string(), { maxItems: 2, listType: 'set' }),
    labels: record(string()),
    sidecar: kubernetesObject('io.k8s.api.core.v1.Container', { description: 'A sidecar.' }),
    extra: anyValue(),
  },
  { mapType: 'atomic', validations: [{ rule: "self.name != 'x'", message: 'not x', fieldPath: '.name' }] },
);
type Example = Static<typeof Example>;

describe('schema DSL', () => {
  test('each builder emits the structural schema the API server expects, with nothing unasked for', () => {
    assert.deepEqual(Example.json, {
      type: 'object',
      properties: {
        name: { description: 'The name.', type: 'string', minLength: 1 },
        mode: { type: 'string', enum: ['fast', 'safe'], default: 'safe' },
        port: { type: 'integer', format: 'int32', minimum: 1, maximum: 65535, default: 6443 },
        enabled: { type: 'boolean' },
        target: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
        tags: { type: 'array', items: { type: 'string' }, maxItems: 2, 'x-kubernetes-list-type': 'set' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        sidecar: { ...coreTypeSchema('io.k8s.api.core.v1.Container'), description: 'A sidecar.' },
        extra: { 'x-kubernetes-preserve-unknown-fields': true },
      },
      required: ['name'],
      'x-kubernetes-map-type': 'atomic',
      'x-kubernetes-validations': [{ rule: "self.name != 'x'", message: 'not x', fieldPath: '.name' }],
    });
    assert.equal(object({ a: string() }).json.required, undefined, 'no empty required list');
    assert.deepEqual(nullable(string({ format: 'date-time' })).json, {
      type: 'string',
      format: 'date-time',
      nullable: true,
    });
  });

  test('Static<> infers required and optional properties and the value types (checked by tsc)', () => {
    const minimal: Example = { name: 'a' };
    const full: Example = {
      name: 'a',
      mode: 'fast',
      port: 1,
      enabled: true,
      target: 'https',
      tags: ['t'],
      labels: { app: 'x' },
      sidecar: { name: 'c' },
      extra: [1, 'two'],
    };
    // @ts-expect-error name is required
    const withoutName: Example = { port: 1 };
    // @ts-expect-error mode is one of the enum's values
    const otherMode: Example = { name: 'a', mode: 'slow' };
    // @ts-expect-error a container needs its name: a core type's TypeScript type is its client-node model
    const badSidecar: Example = { name: 'a', sidecar: { image: 'x' } };
    const Note = nullable(string());
    const cleared: Static<typeof Note> = null;
    assert.equal([minimal, full, withoutName, otherMode, badSidecar, cleared].length, 6);
  });

  test('withDefaults fills what is missing like the API server, recursively, without touching the input', () => {
    const Agent = object({
      mode: string({ default: 'DaemonSet' }),
      hostNetwork: boolean({ default: false }),
      tolerations: array(object({ operator: string({ default: 'Exists' }), key: string() }), {
        default: [{ key: 'CriticalAddonsOnly' }],
      }),
    });
    const Spec = object({
      direct: Agent,
      withDefault: object({ port: integer({ default: 8132 }) }, { default: {} }),
      optional: object({ port: integer({ default: 1 }) }),
      labels: record(object({ value: string({ default: 'v' }) })),
      note: nullable(string({ default: 'none' })),
    });
    const input = { direct: { hostNetwork: true }, labels: { a: {} }, note: null };
    const defaulted = withDefaults(Spec, input);
    assert.deepEqual(defaulted, {
      direct: {
        mode: 'DaemonSet',
        hostNetwork: true,
        // The default is itself defaulted, as the API server does.
        tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
      },
      withDefault: { port: 8132 },
      labels: { a: { value: 'v' } },
      note: null,
    });
    assert.deepEqual(input, { direct: { hostNetwork: true }, labels: { a: {} }, note: null }, 'input unchanged');
    assert.deepEqual(withDefaults(Agent, { mode: '', hostNetwork: false, tolerations: [] }), {
      mode: '',
      hostNetwork: false,
      tolerations: [],
    });
    // A null that is not nullable means unset, so it takes the default.
    assert.equal(withDefaults(Agent, { mode: null } as unknown as Static<typeof Agent>).mode, 'DaemonSet');
  });
});
