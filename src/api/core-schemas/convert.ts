/**
 * Turns definitions from Kubernetes' published OpenAPI v3 (api/openapi-spec/v3 of k8s.io/kubernetes) into the
 * structural schema a CustomResourceDefinition takes, the way controller-gen renders the same Go types:
 * `$ref`s inlined, Quantity / IntOrString / Time in their CRD forms, ObjectMeta as a plain object, list and map
 * types and `required` as Kubernetes declares them, the zero-value defaults openapi-gen adds dropped (controller-gen
 * emits only `+default` markers), and the `+kubebuilder:validation` markers of the Go source, which the OpenAPI does
 * not carry, applied. Anything unexpected is an error, so a new Kubernetes version cannot slip in a key unseen.
 */
import type { JsonSchemaProps } from '../schema.ts';

/** One OpenAPI v3 schema node as Kubernetes publishes it. */
export type OpenApiNode = Record<string, unknown>;

/** Validation markers on the Go fields of one type, by JSON field name. */
export type FieldMarkers = Map<string, JsonSchemaProps>;

export interface Sources {
  /** `components.schemas` of the OpenAPI files, merged (shared definitions are identical in each). */
  definitions: Record<string, OpenApiNode>;
  /** The `+kubebuilder:validation` markers of a definition's Go type, by definition name. */
  markers: (definition: string) => FieldMarkers;
}

/** controller-gen's pattern for resource.Quantity (it is not in the Go source nor in the OpenAPI). */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const INT_OR_STRING: JsonSchemaProps = {
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  'x-kubernetes-int-or-string': true,
};
/** Types whose CRD form is fixed, as in controller-gen's list of known types. */
const KNOWN_TYPES: Record<string, JsonSchemaProps> = {
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { ...INT_OR_STRING, pattern: QUANTITY_PATTERN },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': INT_OR_STRING,
  [`${META}.Time`]: { type: 'string', format: 'date-time' },
  [`${META}.MicroTime`]: { type: 'string', format: 'date-time' },
  // Embedded metadata is kept as a plain object unless controller-gen is asked otherwise (upstream does not).
  [`${META}.ObjectMeta`]: { type: 'object' },
};

/** Keys copied as they are. */
const COPIED = [
  'type',
  'format',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
] as const;
/** Keys a CRD schema has no place for (strategic merge patch and client hints). */
const DROPPED = new Set([
  'x-kubernetes-patch-merge-key',
  'x-kubernetes-patch-strategy',
  'x-kubernetes-unions',
  'x-kubernetes-group-version-kind',
]);
const HANDLED = new Set<string>([
  ...COPIED,
  'description',
  'default',
  'properties',
  'required',
  'items',
  'additionalProperties',
]);
const MARKER_KEYS = new Set([
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'enum',
  'minItems',
  'maxItems',
]);

const isZero = (value: unknown): boolean =>
  value === '' ||
  value === 0 ||
  value === false ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === 'object' && value !== null && Object.keys(value).length === 0);

function refName(node: OpenApiNode): string | undefined {
  const ref = (node.$ref ?? (node.allOf as OpenApiNode[] | undefined)?.[0]?.$ref) as string | undefined;
  return ref?.replace('#/components/schemas/', '');
}

export interface ConvertOptions {
  /** Keep Kubernetes' descriptions (what `kubectl explain` shows). */
  descriptions: boolean;
}

export function convertDefinition(name: string, sources: Sources, options: ConvertOptions): JsonSchemaProps {
  const converting = new Set<string>();

  const definition = (ref: string): JsonSchemaProps => {
    const known = KNOWN_TYPES[ref];
    if (known) return structuredClone(known);
    const source = sources.definitions[ref] ?? fail(`no definition ${ref}`);
    if (converting.has(ref)) fail(`${ref} is recursive; a CRD schema cannot express it`);
    converting.add(ref);
    const result = convert(source, ref, sources.markers(ref));
    converting.delete(ref);
    return result;
  };

  const convert = (node: OpenApiNode, where: string, markers?: FieldMarkers): JsonSchemaProps => {
    const ref = refName(node);
    if (ref) {
      const extra = Object.keys(node).filter((key) => !['$ref', 'allOf', 'description', 'default'].includes(key));
      if (extra.length > 0 || ((node.allOf as unknown[] | undefined)?.length ?? 1) !== 1) {
        fail(`${where}: unexpected ${extra.join(', ') || 'allOf'} beside $ref`);
      }
      const target = definition(ref);
      if (typeof node.description === 'string' && options.descriptions) target.description = node.description;
      if (node.default !== undefined && !isZero(node.default)) target.default = node.default;
      return target;
    }
    const result: JsonSchemaProps = {};
    for (const key of Object.keys(node)) {
      if (!HANDLED.has(key) && !DROPPED.has(key)) fail(`${where}: unexpected key ${key}`);
    }
    if (typeof node.description === 'string' && options.descriptions) result.description = node.description;
    for (const key of COPIED) if (node[key] !== undefined) (result as Record<string, unknown>)[key] = node[key];
    const required = (node.required as string[] | undefined) ?? [];
    if (node.properties) {
      result.properties = {};
      for (const [key, child] of Object.entries(node.properties as Record<string, OpenApiNode>)) {
        const property = convert(child, `${where}.${key}`);
        // openapi-gen gives every required field, and every struct field, its zero value as default; only a
        // `+default` marker makes one in controller-gen, and no marker sets a struct to `{}`.
        const zeroValue = isZero(child.default) && (required.includes(key) || typeof child.default === 'object');
        if (child.default !== undefined && !zeroValue) property.default = child.default;
        else delete property.default;
        for (const [marker, value] of Object.entries(markers?.get(key) ?? {})) {
          (property as Record<string, unknown>)[marker] = value;
        }
        result.properties[key] = property;
      }
    }
    if (required.length > 0) result.required = [...required];
    if (node.items) result.items = withoutZeroDefault(convert(node.items as OpenApiNode, `${where}[]`));
    if (node.additionalProperties !== undefined) {
      if (typeof node.additionalProperties !== 'object') fail(`${where}: additionalProperties is not a schema`);
      result.additionalProperties = withoutZeroDefault(convert(node.additionalProperties as OpenApiNode, `${where}{}`));
    }
    for (const key of markers?.keys() ?? []) {
      if (!result.properties?.[key]) fail(`${where}: a marker names ${key}, which is not a property`);
    }
    return result;
  };

  return definition(name);
}

/** List items and map values get their zero value as default from openapi-gen; there is no marker for them. */
function withoutZeroDefault(schema: JsonSchemaProps): JsonSchemaProps {
  if (schema.default !== undefined && isZero(schema.default)) delete schema.default;
  return schema;
}

/**
 * The `+kubebuilder:validation:<Key>=<value>` markers on the fields of `type <typeName> struct` in Go source, by
 * JSON field name. Required/Optional are left to the OpenAPI's `required` (Kubernetes' word on it); Type and
 * Format only restate what the known types above already render.
 */
export function kubebuilderMarkers(goSource: string, typeName: string): FieldMarkers {
  const markers: FieldMarkers = new Map();
  const start = goSource.search(new RegExp(`^type ${typeName} struct \\{`, 'm'));
  if (start < 0) return markers;
  let pending: JsonSchemaProps = {};
  for (const line of goSource.slice(start).split('\n').slice(1)) {
    const text = line.trim();
    if (text === '}') break;
    const marker = /^\/\/\s*\+kubebuilder:validation:(\w+)(?:=(.*))?$/.exec(text);
    if (marker) {
      const [, name, raw = ''] = marker;
      const key = name![0]!.toLowerCase() + name!.slice(1);
      if (MARKER_KEYS.has(key)) (pending as Record<string, unknown>)[key] = markerValue(key, raw);
      else if (!['required', 'optional', 'type', 'format'].includes(key)) fail(`${typeName}: marker ${name}`);
      continue;
    }
    if (text.startsWith('//')) continue;
    const field = /`json:"([^",]*)/.exec(text);
    if (field?.[1] && Object.keys(pending).length > 0) markers.set(field[1], pending);
    pending = {};
  }
  return markers;
}

function markerValue(key: string, raw: string): unknown {
  if (key === 'pattern') return raw.replace(/^`(.*)`$/, '$1');
  if (key === 'enum') return raw.split(';');
  const value = Number(raw);
  return Number.isFinite(value) ? value : fail(`marker ${key}=${raw} is not a number`);
}

function fail(message: string): never {
  throw new Error(message);
}
