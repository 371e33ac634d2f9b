/**
 * A small schema DSL with one source of truth: each builder returns both the Kubernetes structural OpenAPI v3
 * schema (JSONSchemaProps exactly as apiextensions.k8s.io/v1 takes it on the wire) and, at the type level only, the
 * TypeScript type of a valid value, read with `Static<typeof X>`. Properties are optional unless wrapped in
 * `required()`, as in Kubernetes APIs.
 */
import { type CoreTypeName, type CoreTypes, coreTypeSchema } from './core-schemas/index.ts';

/** One `x-kubernetes-validations` entry: a CEL rule checked by the API server. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  /** Where the error points, relative to the node carrying the rule (e.g. `.networkProfile.loadBalancerClass`). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** JSONSchemaProps with the key names the API server uses (`default`, `x-kubernetes-...`). */
export interface JsonSchemaProps {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  properties?: Record<string, JsonSchemaProps>;
  required?: string[];
  additionalProperties?: JsonSchemaProps;
  /** Only in the int-or-string form Kubernetes allows: `[{type: integer}, {type: string}]`. */
  anyOf?: JsonSchemaProps[];
  items?: JsonSchemaProps;
  enum?: string[];
  pattern?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  nullable?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

declare const staticType: unique symbol;

export interface Schema<T> {
  readonly json: JsonSchemaProps;
  /** Never set: carries the TypeScript type of a valid value for `Static`. */
  readonly [staticType]?: T;
}

export interface RequiredSchema<T> extends Schema<T> {
  readonly required: true;
}

export type Static<S extends Schema<unknown>> = S extends Schema<infer T> ? T : never;

interface CommonOptions<T> {
  description?: string;
  default?: T;
  validations?: ValidationRule[];
}

export interface StringOptions<T extends string = string> extends CommonOptions<T> {
  pattern?: string;
  format?: 'byte' | 'date-time';
  minLength?: number;
  maxLength?: number;
}

export interface IntegerOptions extends CommonOptions<number> {
  format?: 'int32' | 'int64';
  minimum?: number;
  maximum?: number;
}

export interface ArrayOptions<T> extends CommonOptions<T[]> {
  minItems?: number;
  maxItems?: number;
  listType?: 'atomic' | 'set' | 'map';
  /** With listType 'map': the item properties that identify an item. */
  listMapKeys?: string[];
}

export interface ObjectOptions<T> extends CommonOptions<T> {
  mapType?: 'atomic' | 'granular';
}

type Properties = Record<string, Schema<unknown>>;
type RequiredKeys<P extends Properties> = { [K in keyof P]: P[K] extends RequiredSchema<unknown> ? K : never }[keyof P];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectStatic<P extends Properties> = Simplify<
  { [K in RequiredKeys<P>]: Static<P[K]> } & { [K in Exclude<keyof P, RequiredKeys<P>>]?: Static<P[K]> }
>;

function node<T>(json: JsonSchemaProps, options: CommonOptions<T>): Schema<T> {
  const { description, default: defaultValue, validations } = options;
  const full: JsonSchemaProps = {
    description,
    ...json,
    default: defaultValue,
    'x-kubernetes-validations': validations,
  };
  // Absent keys stay absent, so the emitted YAML only says what was asked for.
  for (const key of Object.keys(full) as (keyof JsonSchemaProps)[]) if (full[key] === undefined) delete full[key];
  return { json: full };
}

export function string(options: StringOptions = {}): Schema<string> {
  const { pattern, format, minLength, maxLength } = options;
  return node({ type: 'string', format, pattern, minLength, maxLength }, options);
}

export function stringEnum<const V extends readonly string[]>(
  values: V,
  options: StringOptions<V[number]> = {},
): Schema<V[number]> {
  return node({ type: 'string', enum: [...values] }, options);
}

export function integer(options: IntegerOptions = {}): Schema<number> {
  const { format, minimum, maximum } = options;
  return node({ type: 'integer', format, minimum, maximum }, options);
}

export function boolean(options: CommonOptions<boolean> = {}): Schema<boolean> {
  return node({ type: 'boolean' }, options);
}

/** A number or a string such as a port name or a percentage (int-or-string, written as controller-gen does). */
export function intOrString(options: CommonOptions<number | string> = {}): Schema<number | string> {
  return node({ anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true }, options);
}

export function array<T>(items: Schema<T>, options: ArrayOptions<T> = {}): Schema<T[]> {
  const { minItems, maxItems, listType, listMapKeys } = options;
  return node(
    {
      type: 'array',
      items: items.json,
      minItems,
      maxItems,
      'x-kubernetes-list-type': listType,
      'x-kubernetes-list-map-keys': listMapKeys,
    },
    options,
  );
}

export function object<P extends Properties>(
  properties: P,
  options: ObjectOptions<ObjectStatic<P>> = {},
): Schema<ObjectStatic<P>> {
  const json: Record<string, JsonSchemaProps> = {};
  const requiredKeys: string[] = [];
  for (const [key, property] of Object.entries(properties)) {
    json[key] = property.json;
    if ((property as Partial<RequiredSchema<unknown>>).required) requiredKeys.push(key);
  }
  return node(
    {
      type: 'object',
      properties: json,
      required: requiredKeys.length > 0 ? requiredKeys : undefined,
      'x-kubernetes-map-type': options.mapType,
    },
    options,
  );
}

/** A map from arbitrary keys to values of one schema (labels, annotations, node selectors). */
export function record<T>(
  values: Schema<T>,
  options: CommonOptions<Record<string, T>> = {},
): Schema<Record<string, T>> {
  return node({ type: 'object', additionalProperties: values.json }, options);
}

/**
 * A core Kubernetes (or Gateway API) type, validated by the API server with the schema Kubernetes publishes for it
 * (generated into core-schemas/schemas.json); its TypeScript type is the @kubernetes/client-node model. The
 * description given here, if any, replaces Kubernetes' own.
 */
export function kubernetesObject<K extends CoreTypeName>(
  type: K,
  options: CommonOptions<CoreTypes[K]> = {},
): Schema<CoreTypes[K]> {
  const schema = coreTypeSchema(type);
  return node({ ...schema, description: options.description ?? schema.description }, options);
}

/** Any JSON value, stored as given (e.g. the value of a JSON patch operation). */
export function anyValue(options: CommonOptions<unknown> = {}): Schema<unknown> {
  return node({ 'x-kubernetes-preserve-unknown-fields': true }, options);
}

export function required<T>(property: Schema<T>): RequiredSchema<T> {
  return { ...property, required: true };
}

/** Also accepts null, which is then stored as such instead of meaning "unset". */
export function nullable<T>(property: Schema<T>): Schema<T | null> {
  return { json: { ...property.json, nullable: true } };
}

/**
 * Fills in schema defaults the way the API server does: a missing property (or a null one that is not nullable)
 * takes its default, then everything present, defaults included, is defaulted in turn. Returns a copy.
 */
export function withDefaults<S extends Schema<unknown>>(schema: S, value: Static<S>): Static<S> {
  return applyDefaults(schema.json, value) as Static<S>;
}

function applyDefaults(json: JsonSchemaProps, value: unknown): unknown {
  if (Array.isArray(value)) return json.items ? value.map((item) => applyDefaults(json.items!, item)) : [...value];
  if (value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, property] of Object.entries(json.properties ?? {})) {
    const missing = result[key] === undefined || (result[key] === null && !property.nullable);
    if (missing && property.default !== undefined) result[key] = structuredClone(property.default);
    if (result[key] !== undefined) result[key] = applyDefaults(property, result[key]);
  }
  if (json.additionalProperties) {
    for (const [key, entry] of Object.entries(result)) result[key] = applyDefaults(json.additionalProperties, entry);
  }
  return result;
}
