import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { dumpYaml } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { customResourceDefinitions, customResourceDefinitionsYaml } from './crds.ts';
import type { JsonSchemaProps } from './schema.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const UPSTREAM_CRDS = resolve(REPO_ROOT, '..', 'shared', 'upstream-kamaji', 'crds');
const noOracle = existsSync(UPSTREAM_CRDS) ? false : `upstream Kamaji CRDs not found at ${UPSTREAM_CRDS}`;

interface Crd {
  metadata: { name: string };
  spec: {
    names: Record<string, unknown>;
    scope: string;
    versions: {
      schema: { openAPIV3Schema: JsonSchemaProps };
      subresources: unknown;
      additionalPrinterColumns: { name: string; type: string; jsonPath: string }[];
    }[];
  };
}

const ours = parseAllDocuments(customResourceDefinitionsYaml()).map((document) => document.toJSON() as Crd);

/** Paths we add to upstream's schema on purpose; nothing else may be extra. */
const ADDITIONS: Record<string, string[]> = {
  'tenantcontrolplanes.kamaji.clastix.io': [
    // What the addons phase applied in the tenant: while it matches, no call to the tenant (upstream re-applies).
    '.status.addons.coreDNS.checksum',
    '.status.addons.konnectivity.agent.checksum',
    '.status.addons.kubeProxy.checksum',
    // A migration between DataStores in progress, so that a restarted operator resumes it (docs/migration.md).
    '.status.storage.migration',
    '.status.conditions',
  ],
  'datastores.kamaji.clastix.io': [],
  'kubeconfiggenerators.kamaji.clastix.io': [],
};

/** Upstream's rules that read a field without has() on its optional parent, which CEL reports as an error. */
const NULL_SAFE =
  "null-safe: upstream's rule reads a field of an optional object without has(), so leaving that object out " +
  "fails with 'no such key' (upstream refuses a TCP without networkProfile, an etcd DataStore without tlsConfig); " +
  'ours checks has() first and names the field (fieldPath)';

/**
 * Where our schema deliberately differs from upstream's: each reason with the places it applies to, as
 * `<path> <key>` or `<path> rule "<message>"`. Every other key and rule of every upstream path (descriptions aside)
 * must be equal, and a listed place that no longer differs is an error too.
 */
const DIFFERENCES: Record<string, { reason: string; at: string[] }[]> = {
  'tenantcontrolplanes.kamaji.clastix.io': [
    {
      reason:
        'tenant datastore identity is a security boundary: a plain identifier (DATASTORE_IDENTIFIER) cannot reach ' +
        "into another tenant's key range or database, nor need quoting; upstream accepts any string",
      at: ['.spec.dataStoreSchema', '.spec.dataStoreUsername'].flatMap((path) =>
        ['pattern', 'minLength', 'maxLength'].map((key) => `${path} ${key}`),
      ),
    },
    {
      reason: 'a version kubeadm and the image tags cannot take (not vX.Y.Z) is refused when applied, not later',
      at: ['.spec.kubernetes.version pattern'],
    },
    {
      reason: NULL_SAFE,
      at: [
        '.spec rule "LoadBalancer source ranges are supported only with LoadBalancer service type"',
        '.spec rule "LoadBalancerClass is supported only with LoadBalancer service type"',
        '.spec rule "LoadBalancerClass cannot be set or unset at runtime"',
      ],
    },
    {
      reason:
        "Kubernetes' OpenAPI leaves PortStatus.error optional; controller-gen requires it (a +kubebuilder Required " +
        'marker beside +optional), which refuses a load balancer status as the API server itself reports it',
      at: [
        '.status.kubernetesResources.service',
        '.status.kubernetesResources.ingress',
        '.status.addons.konnectivity.service',
      ].map((path) => `${path}.loadBalancer.ingress[].ports[] required`),
    },
    {
      reason:
        "Kubernetes' OpenAPI declares these structs granular; controller-gen copies +structType=atomic from the " +
        'LocalObjectReference they embed',
      at: [
        ...['additionalContainers', 'additionalInitContainers'].flatMap((list) =>
          ['configMapRef', 'secretRef'].map(
            (ref) => `.spec.controlPlane.deployment.${list}[].envFrom[].${ref} x-kubernetes-map-type`,
          ),
        ),
        '.spec.controlPlane.deployment.additionalVolumes[].configMap x-kubernetes-map-type',
        '.spec.controlPlane.deployment.additionalVolumes[].projected.sources[].configMap x-kubernetes-map-type',
        '.spec.controlPlane.deployment.additionalVolumes[].projected.sources[].secret x-kubernetes-map-type',
      ],
    },
    {
      reason:
        "Kubernetes' OpenAPI defaults these (+default=ref(...)), as the Pod API does; controller-gen cannot read " +
        'ref() defaults and leaves them out',
      at: ['cachingMode', 'kind'].map(
        (key) => `.spec.controlPlane.deployment.additionalVolumes[].azureDisk.${key} default`,
      ),
    },
  ],
  'datastores.kamaji.clastix.io': [
    {
      reason: NULL_SAFE,
      at: [
        '.spec rule "certificateAuthority privateKey must have secretReference or content when driver is etcd"',
        '.spec rule "clientCertificate must have secretReference or content when driver is etcd"',
        '.spec rule "clientCertificate privateKey must have secretReference or content when driver is etcd"',
      ],
    },
    {
      reason: "the same check as .spec.driver's own rule, which names the field: one error for one change",
      at: ['.spec rule "driver is immutable and cannot be changed after creation"'],
    },
  ],
  'kubeconfiggenerators.kamaji.clastix.io': [],
};

/** Keys that hold children (walked), only prose, or rules (compared one by one). */
const NOT_COMPARED = new Set([
  'description',
  'properties',
  'items',
  'additionalProperties',
  'x-kubernetes-validations',
]);

interface Difference {
  /** `<path> <key>`, or `<path> rule "<message>"` for a CEL rule. */
  at: string;
  theirs: unknown;
  ours: unknown;
}

interface Report {
  compared: number;
  missing: string[];
  different: Difference[];
  extra: string[];
}

const sorted = (values: readonly string[] | undefined) => (values ? [...values].sort() : undefined);
const show = ({ at, theirs, ours }: Difference) => `${at}: ${JSON.stringify(theirs)} vs ${JSON.stringify(ours)}`;

/** A node's value for a key, in a form where order that carries no meaning is gone. */
function comparable(node: JsonSchemaProps, key: string): unknown {
  if (key === 'enum' || key === 'required') return sorted(node[key]);
  return node[key as keyof JsonSchemaProps];
}

/** A node's CEL rules by message; fieldPath and reason only point the error at a field, so are not compared. */
function rules(node: JsonSchemaProps): Map<string, string> {
  return new Map((node['x-kubernetes-validations'] ?? []).map(({ rule, message }) => [message ?? rule, rule]));
}

function children(node: JsonSchemaProps): [string, JsonSchemaProps][] {
  const entries = Object.entries(node.properties ?? {}).map(([key, child]): [string, JsonSchemaProps] => [
    `.${key}`,
    child,
  ]);
  if (node.items) entries.push(['[]', node.items]);
  if (node.additionalProperties) entries.push(['{}', node.additionalProperties]);
  return entries;
}

function compare(upstream: JsonSchemaProps, mine: JsonSchemaProps): Report {
  const report: Report = { compared: 0, missing: [], different: [], extra: [] };
  const walk = (theirs: JsonSchemaProps, ours: JsonSchemaProps | undefined, path: string): void => {
    if (!ours) {
      report.missing.push(path);
      return;
    }
    report.compared += 1;
    const at = path || '(root)';
    const keys = new Set([...Object.keys(theirs), ...Object.keys(ours)].filter((key) => !NOT_COMPARED.has(key)));
    for (const key of [...keys].sort()) {
      const [a, b] = [comparable(theirs, key), comparable(ours, key)];
      if (!isDeepStrictEqual(a, b)) report.different.push({ at: `${at} ${key}`, theirs: a, ours: b });
    }
    const [theirRules, ourRules] = [rules(theirs), rules(ours)];
    for (const message of new Set([...theirRules.keys(), ...ourRules.keys()])) {
      const [a, b] = [theirRules.get(message), ourRules.get(message)];
      if (a !== b) report.different.push({ at: `${at} rule ${JSON.stringify(message)}`, theirs: a, ours: b });
    }
    const ourChildren = new Map(children(ours));
    for (const [key, child] of children(theirs)) {
      walk(child, ourChildren.get(key), `${path}${key}`);
      ourChildren.delete(key);
    }
    for (const key of ourChildren.keys()) report.extra.push(`${path}${key}`);
  };
  walk(upstream, mine, '');
  return report;
}

/** The differences not listed, and the listed places that no longer differ. */
function unexplained(report: Report, listed: { at: string[] }[]): { unlisted: string[]; stale: string[] } {
  const allowed = new Set(listed.flatMap(({ at }) => at));
  const found = new Set(report.different.map(({ at }) => at));
  return {
    unlisted: report.different.filter(({ at }) => !allowed.has(at)).map(show),
    stale: [...allowed].filter((at) => !found.has(at)),
  };
}

describe('generated CRDs', () => {
  test('the client-node models serialize back to exactly the YAML we print', () => {
    const models = customResourceDefinitions();
    assert.equal(models.length, 3);
    assert.deepEqual(
      models.map((model) => parse(dumpYaml(model))),
      ours,
    );
  });

  test('every schema node says what it is, as structural schemas must', () => {
    for (const crd of ours) {
      const untyped: string[] = [];
      const walk = (node: JsonSchemaProps, path: string): void => {
        if (!node.type && !node['x-kubernetes-int-or-string'] && !node['x-kubernetes-preserve-unknown-fields']) {
          untyped.push(path);
        }
        for (const [key, child] of children(node)) walk(child, `${path}${key}`);
      };
      walk(crd.spec.versions[0]!.schema.openAPIV3Schema, '');
      assert.deepEqual(untyped, [], crd.metadata.name);
    }
  });

  test('the comparison notices missing paths, other types, other constraints, rules and extra paths', () => {
    const upstream: JsonSchemaProps = {
      type: 'object',
      required: ['port'],
      properties: {
        port: { type: 'integer', default: 6443 },
        name: { type: 'string', pattern: '^[a-z]+$' },
        tags: { type: 'array', items: { type: 'string' } },
        id: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'immutable' }] },
      },
    };
    const mine: JsonSchemaProps = {
      type: 'object',
      properties: {
        port: { type: 'string', default: 6443 },
        name: { type: 'string', pattern: '^[a-z0-9]+$' },
        tags: { type: 'array' },
        id: {
          type: 'string',
          'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'cannot change', fieldPath: '.id' }],
        },
        extra: { type: 'boolean' },
      },
    };
    const report = compare(upstream, mine);
    assert.deepEqual(report.missing, ['.tags[]']);
    assert.deepEqual(report.different.map(show), [
      '(root) required: ["port"] vs undefined',
      '.port type: "integer" vs "string"',
      '.name pattern: "^[a-z]+$" vs "^[a-z0-9]+$"',
      '.id rule "immutable": "self == oldSelf" vs undefined',
      '.id rule "cannot change": undefined vs "self == oldSelf"',
    ]);
    assert.deepEqual(report.extra, ['.extra']);
    assert.deepEqual(unexplained(report, [{ at: ['.port type', '.id rule "immutable"', '.gone pattern'] }]), {
      unlisted: [report.different[0], report.different[2], report.different[4]].map((difference) => show(difference!)),
      stale: ['.gone pattern'],
    });
  });

  for (const name of Object.keys(DIFFERENCES)) {
    test(`${name}: every upstream field path exists in ours with the same type, constraints, patterns and rules`, {
      skip: noOracle,
    }, (t) => {
      const upstream = parse(
        readFileSync(join(UPSTREAM_CRDS, `kamaji.clastix.io_${name.split('.')[0]}.yaml`), 'utf8'),
      ) as Crd;
      const mine = ours.find((crd) => crd.metadata.name === name) ?? assert.fail(`we generate no ${name}`);
      const [theirVersion, ourVersion] = [upstream.spec.versions[0]!, mine.spec.versions[0]!];

      assert.deepEqual(mine.spec.names, upstream.spec.names);
      assert.equal(mine.spec.scope, upstream.spec.scope);
      assert.deepEqual(ourVersion.subresources, theirVersion.subresources);
      const columns = (version: typeof ourVersion) =>
        version.additionalPrinterColumns.map(({ name, type, jsonPath }) => ({ name, type, jsonPath }));
      assert.deepEqual(columns(ourVersion), columns(theirVersion));

      const report = compare(theirVersion.schema.openAPIV3Schema, ourVersion.schema.openAPIV3Schema);
      const { unlisted, stale } = unexplained(report, DIFFERENCES[name]!);
      t.diagnostic(
        `${name}: ${report.compared + report.missing.length} upstream paths, ${report.compared} compared, ` +
          `0 delegated, ${report.missing.length} missing, ${report.different.length - unlisted.length} listed ` +
          `deliberate differences, ${report.extra.length} documented additions`,
      );
      assert.deepEqual(report.missing, [], 'upstream paths missing in ours');
      assert.deepEqual(unlisted, [], 'differences from upstream (type, constraints, patterns, rules) not listed');
      assert.deepEqual(stale, [], 'listed differences that are gone');
      assert.deepEqual(report.extra, ADDITIONS[name], 'paths upstream does not have, beyond our documented additions');
    });
  }
});
