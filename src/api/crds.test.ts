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

/**
 * Upstream subtrees we deliberately keep whole with x-kubernetes-preserve-unknown-fields: core Kubernetes (and
 * Gateway API) types whose schema would be a copy of theirs. Their TypeScript types are the client-node models;
 * the API server of the Deployment, Service or route that receives them validates them. Only the root's type is
 * compared; everything below counts as delegated.
 */
/** Paths we add to upstream's schema on purpose; nothing else may be extra. */
const ADDITIONS: Record<string, string[]> = {
  'tenantcontrolplanes.kamaji.clastix.io': ['.status.conditions'],
  'datastores.kamaji.clastix.io': [],
  'kubeconfiggenerators.kamaji.clastix.io': [],
};

const DELEGATED: Record<string, Record<string, string>> = {
  'tenantcontrolplanes.kamaji.clastix.io': {
    '.spec.addons.konnectivity.agent.tolerations': 'V1Toleration[]',
    '.spec.addons.konnectivity.server.resources': 'V1ResourceRequirements',
    '.spec.addons.konnectivity.server.securityContext': 'V1SecurityContext',
    '.spec.controlPlane.deployment.additionalContainers': 'V1Container[]',
    '.spec.controlPlane.deployment.additionalInitContainers': 'V1Container[]',
    '.spec.controlPlane.deployment.additionalVolumes': 'V1Volume[]',
    '.spec.controlPlane.deployment.additionalVolumeMounts.apiServer': 'V1VolumeMount[]',
    '.spec.controlPlane.deployment.additionalVolumeMounts.controllerManager': 'V1VolumeMount[]',
    '.spec.controlPlane.deployment.additionalVolumeMounts.scheduler': 'V1VolumeMount[]',
    '.spec.controlPlane.deployment.affinity': 'V1Affinity',
    '.spec.controlPlane.deployment.containerSecurityContexts.apiServer': 'V1SecurityContext',
    '.spec.controlPlane.deployment.containerSecurityContexts.controllerManager': 'V1SecurityContext',
    '.spec.controlPlane.deployment.containerSecurityContexts.scheduler': 'V1SecurityContext',
    '.spec.controlPlane.deployment.podSecurityContext': 'V1PodSecurityContext',
    '.spec.controlPlane.deployment.resources.apiServer': 'V1ResourceRequirements',
    '.spec.controlPlane.deployment.resources.controllerManager': 'V1ResourceRequirements',
    '.spec.controlPlane.deployment.resources.kine': 'V1ResourceRequirements',
    '.spec.controlPlane.deployment.resources.scheduler': 'V1ResourceRequirements',
    '.spec.controlPlane.deployment.strategy': 'V1DeploymentStrategy',
    '.spec.controlPlane.deployment.tolerations': 'V1Toleration[]',
    '.spec.controlPlane.deployment.topologySpreadConstraints': 'V1TopologySpreadConstraint[]',
    '.status.kubernetesResources.deployment.conditions': 'V1DeploymentCondition[]',
    '.status.kubernetesResources.gateway.parents': 'Gateway API RouteParentStatus[]',
    '.status.kubernetesResources.ingress.loadBalancer': 'V1IngressLoadBalancerStatus',
    '.status.kubernetesResources.service.conditions': 'V1Condition[]',
    '.status.kubernetesResources.service.loadBalancer': 'V1LoadBalancerStatus',
    '.status.addons.konnectivity.gateway.parents': 'Gateway API RouteParentStatus[]',
    '.status.addons.konnectivity.service.conditions': 'V1Condition[]',
    '.status.addons.konnectivity.service.loadBalancer': 'V1LoadBalancerStatus',
  },
  'datastores.kamaji.clastix.io': {
    '.status.conditions': 'V1Condition[]',
  },
  'kubeconfiggenerators.kamaji.clastix.io': {
    '.spec.namespaceSelector': 'V1LabelSelector',
    '.spec.tenantControlPlaneSelector': 'V1LabelSelector',
  },
};

/** What is compared at every node outside delegated subtrees, besides its type. */
const COMPARED: (keyof JsonSchemaProps)[] = [
  'format',
  'enum',
  'default',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
];

interface Report {
  compared: number;
  delegated: number;
  missing: string[];
  differentType: string[];
  differentConstraints: string[];
  withoutRules: string[];
  extra: string[];
}

const typeOf = (node: JsonSchemaProps) => (node['x-kubernetes-int-or-string'] ? 'int-or-string' : node.type);
const sorted = (values: readonly string[] | undefined) => (values ? [...values].sort() : undefined);

function children(node: JsonSchemaProps): [string, JsonSchemaProps][] {
  const entries = Object.entries(node.properties ?? {}).map(([key, child]): [string, JsonSchemaProps] => [
    `.${key}`,
    child,
  ]);
  if (node.items) entries.push(['[]', node.items]);
  if (node.additionalProperties) entries.push(['{}', node.additionalProperties]);
  return entries;
}

function countNodes(node: JsonSchemaProps): number {
  return children(node).reduce((total, [, child]) => total + 1 + countNodes(child), 0);
}

function isKeptWhole(node: JsonSchemaProps): boolean {
  const kept = node.items ?? node;
  return kept.type === 'object' && kept['x-kubernetes-preserve-unknown-fields'] === true && !kept.properties;
}

function compare(upstream: JsonSchemaProps, mine: JsonSchemaProps, delegated: Record<string, string>): Report {
  const report: Report = {
    compared: 0,
    delegated: 0,
    missing: [],
    differentType: [],
    differentConstraints: [],
    withoutRules: [],
    extra: [],
  };
  const walk = (theirs: JsonSchemaProps, ours: JsonSchemaProps | undefined, path: string): void => {
    if (!ours) {
      report.missing.push(path);
      return;
    }
    report.compared += 1;
    if (typeOf(theirs) !== typeOf(ours)) report.differentType.push(`${path}: ${typeOf(theirs)} vs ${typeOf(ours)}`);
    if (path in delegated) {
      assert.ok(isKeptWhole(ours), `${path} is allow-listed as delegated but is not kept whole in our schema`);
      report.delegated += countNodes(theirs);
      return;
    }
    assert.ok(!isKeptWhole(ours) || theirs['x-kubernetes-preserve-unknown-fields'], `${path}: undeclared delegation`);
    for (const key of [...COMPARED, 'required'] as const) {
      const [a, b] =
        key === 'enum' || key === 'required' ? [sorted(theirs[key]), sorted(ours[key])] : [theirs[key], ours[key]];
      if (!isDeepStrictEqual(a, b))
        report.differentConstraints.push(`${path || '(root)'} ${key}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
    if (theirs['x-kubernetes-validations'] && !ours['x-kubernetes-validations']) report.withoutRules.push(path);
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

  test('the comparison notices missing paths, other types, other constraints and extra paths', () => {
    const upstream: JsonSchemaProps = {
      type: 'object',
      required: ['port'],
      properties: {
        port: { type: 'integer', default: 6443 },
        name: { type: 'string' },
        tags: { type: 'array', items: { type: 'string' } },
      },
    };
    const mine: JsonSchemaProps = {
      type: 'object',
      properties: { port: { type: 'string', default: 6443 }, tags: { type: 'array' }, extra: { type: 'boolean' } },
    };
    const report = compare(upstream, mine, {});
    assert.deepEqual(report.missing, ['.name', '.tags[]']);
    assert.deepEqual(report.differentType, ['.port: integer vs string']);
    assert.deepEqual(report.differentConstraints, ['(root) required: ["port"] vs undefined']);
    assert.deepEqual(report.extra, ['.extra']);
  });

  for (const name of Object.keys(DELEGATED)) {
    test(`${name}: every upstream field path exists in ours with the same type and constraints`, {
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

      const report = compare(theirVersion.schema.openAPIV3Schema, ourVersion.schema.openAPIV3Schema, DELEGATED[name]!);
      t.diagnostic(
        `${name}: ${report.compared + report.delegated} upstream paths, ${report.compared} compared, ` +
          `${report.delegated} delegated to core types, ${report.missing.length} missing, ` +
          `${report.differentType.length} of a different type`,
      );
      assert.deepEqual(report.missing, [], 'upstream paths missing in ours');
      assert.deepEqual(report.differentType, [], 'paths of a different type');
      assert.deepEqual(report.differentConstraints, [], 'paths with different formats, enums, defaults or bounds');
      assert.deepEqual(report.withoutRules, [], 'paths where upstream has CEL rules and we have none');
      assert.deepEqual(report.extra, ADDITIONS[name], 'paths upstream does not have, beyond our documented additions');
    });
  }
});
