/**
 * Regenerates schemas.json, the CRD schemas of the core types in index.ts, from Kubernetes' own OpenAPI v3 (the
 * k8s.io/kubernetes module at the pinned KUBERNETES_VERSION, api/openapi-spec/v3), the `+kubebuilder:validation`
 * markers of the same types' Go source (k8s.io/api and k8s.io/apimachinery at that release), and, for Gateway API's
 * RouteParentStatus, the TLSRoute CRD of sigs.k8s.io/gateway-api at the version upstream Kamaji uses. All three come
 * from the Go module proxy through `go mod download` (the module cache once fetched).
 *
 *   node src/api/core-schemas/generate.ts [--check]
 *
 * --check regenerates in memory and fails if schemas.json differs (nothing is written).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { KUBERNETES_VERSION } from '../../toolchain/versions.ts';
import type { JsonSchemaProps } from '../schema.ts';
import { convertDefinition, type FieldMarkers, kubebuilderMarkers, type OpenApiNode } from './convert.ts';
import {
  CORE_TYPE_NAMES,
  type CoreTypeName,
  GATEWAY_ROUTE_PARENT_STATUS,
  type GeneratedSchemas,
  SCHEMAS_FILE,
} from './index.ts';

/** Upstream Kamaji's go.mod requires this Gateway API release; its CRD's RouteParentStatus is upstream's. */
export const GATEWAY_API_VERSION = 'v1.5.1';
const [, minor, patch] = KUBERNETES_VERSION.slice(1).split('.');
/** Kubernetes' staging modules are tagged v0.<minor>.<patch> for release v1.<minor>.<patch>. */
const STAGING_VERSION = `v0.${minor}.${patch}`;
const OPENAPI_FILES = [
  'api__v1_openapi.json',
  'apis__apps__v1_openapi.json',
  'apis__networking.k8s.io__v1_openapi.json',
];
const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** The modules the schemas come from, at the versions pinned above. */
export const PINNED_MODULES = [
  { path: 'k8s.io/kubernetes', version: KUBERNETES_VERSION },
  { path: 'k8s.io/api', version: STAGING_VERSION },
  { path: 'k8s.io/apimachinery', version: STAGING_VERSION },
  { path: 'sigs.k8s.io/gateway-api', version: GATEWAY_API_VERSION },
] as const;

/** Whether every pinned module is already in the Go module cache (so generating needs no network). */
export function moduleCacheHas(): boolean {
  try {
    const cache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
    return PINNED_MODULES.every(({ path, version }) => existsSync(join(cache, `${path}@${version}`)));
  } catch {
    return false;
  }
}

/**
 * The module's directory in the Go module cache, downloaded from the module proxy if it is not there yet (offline:
 * from the cache only).
 */
function moduleDir(module: string, version: string, offline: boolean): string {
  const scratch = mkdtempSync(join(tmpdir(), 'kamaji-core-schemas-'));
  const env = offline ? { ...process.env, GOPROXY: 'off' } : process.env;
  try {
    execFileSync('go', ['mod', 'init', 'scratch'], { cwd: scratch, stdio: 'ignore', env });
    const output = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
      cwd: scratch,
      encoding: 'utf8',
      env,
    });
    const { Dir, Error: error } = JSON.parse(output) as { Dir?: string; Error?: string };
    if (!Dir) throw new Error(`go mod download ${module}@${version}: ${error ?? 'no directory'}`);
    return Dir;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Where a definition's Go type lives: `io.k8s.api.core.v1.Pod` is in k8s.io/api, package core/v1. */
function goPackage(definition: string, api: string, apimachinery: string): string | undefined {
  const [prefix, typeName] = [definition.slice(0, definition.lastIndexOf('.')), definition.split('.').pop()];
  if (!typeName) return undefined;
  if (prefix.startsWith('io.k8s.api.')) return join(api, ...prefix.slice('io.k8s.api.'.length).split('.'));
  if (prefix.startsWith('io.k8s.apimachinery.')) {
    return join(apimachinery, ...prefix.slice('io.k8s.apimachinery.'.length).split('.'));
  }
  return undefined;
}

function markersFrom(api: string, apimachinery: string): (definition: string) => FieldMarkers {
  const sources = new Map<string, string>();
  const packageSource = (dir: string): string => {
    if (!sources.has(dir)) {
      const files = readdirSync(dir).filter((file) => file.endsWith('.go') && !file.endsWith('_test.go'));
      sources.set(dir, files.map((file) => readFileSync(join(dir, file), 'utf8')).join('\n'));
    }
    return sources.get(dir)!;
  };
  return (definition) => {
    const dir = goPackage(definition, api, apimachinery);
    return dir ? kubebuilderMarkers(packageSource(dir), definition.split('.').pop()!) : new Map();
  };
}

/** RouteParentStatus as the Gateway API's standard TLSRoute CRD (v1) renders it for `status.parents[]`. */
function routeParentStatus(gatewayApi: string): JsonSchemaProps {
  const file = join(gatewayApi, 'config', 'crd', 'standard', 'gateway.networking.k8s.io_tlsroutes.yaml');
  const crd = parse(readFileSync(file, 'utf8')) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: JsonSchemaProps } }[] };
  };
  const v1 = crd.spec.versions.find((version) => version.name === 'v1') ?? fail(`${file}: no version v1`);
  return v1.schema.openAPIV3Schema.properties?.status?.properties?.parents?.items ?? fail(`${file}: no parents`);
}

/** Object keys in a stable order, so that regenerating changes only what changed. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

export function generate({ offline = false } = {}): GeneratedSchemas {
  const [kubernetes, api, apimachinery, gatewayApi] = PINNED_MODULES.map(({ path, version }) =>
    moduleDir(path, version, offline),
  ) as [string, string, string, string];

  const definitions: Record<string, OpenApiNode> = {};
  for (const file of OPENAPI_FILES) {
    const spec = JSON.parse(readFileSync(join(kubernetes, 'api', 'openapi-spec', 'v3', file), 'utf8')) as {
      components: { schemas: Record<string, OpenApiNode> };
    };
    Object.assign(definitions, spec.components.schemas);
  }
  const sources = { definitions, markers: markersFrom(api, apimachinery) };
  const schemas = {} as Record<CoreTypeName, JsonSchemaProps>;
  for (const name of CORE_TYPE_NAMES) {
    schemas[name] =
      name === GATEWAY_ROUTE_PARENT_STATUS
        ? routeParentStatus(gatewayApi)
        : convertDefinition(name, sources, { descriptions: true });
  }
  return {
    comment:
      'Generated by src/api/core-schemas/generate.ts; do not edit. Regenerate with: node src/api/core-schemas/generate.ts',
    sources: {
      openapi: `k8s.io/kubernetes@${KUBERNETES_VERSION} api/openapi-spec/v3/{${OPENAPI_FILES.join(',')}}`,
      markers: `k8s.io/api@${STAGING_VERSION}, k8s.io/apimachinery@${STAGING_VERSION} (+kubebuilder:validation markers)`,
      gatewayApi: `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION} config/crd/standard/gateway.networking.k8s.io_tlsroutes.yaml (v1 status.parents[])`,
    },
    schemas: sortKeys(schemas) as Record<CoreTypeName, JsonSchemaProps>,
  };
}

/** The file as committed: JSON formatted by Biome, as `npm run lint` checks it. */
export function schemasFileText(generated: GeneratedSchemas): string {
  const biome = join(REPO_ROOT, 'node_modules', '.bin', 'biome');
  return execFileSync(biome, ['format', `--stdin-file-path=${SCHEMAS_FILE.pathname}`], {
    input: JSON.stringify(generated),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

function fail(message: string): never {
  throw new Error(message);
}

if (import.meta.main) {
  const text = schemasFileText(generate());
  if (process.argv.includes('--check')) {
    if (readFileSync(SCHEMAS_FILE, 'utf8') !== text) fail(`${SCHEMAS_FILE.pathname} is stale: regenerate it`);
    console.log(`${SCHEMAS_FILE.pathname} is up to date`);
  } else {
    writeFileSync(SCHEMAS_FILE, text);
    console.log(`wrote ${SCHEMAS_FILE.pathname} (${text.length} bytes, ${CORE_TYPE_NAMES.length} types)`);
  }
}
