import type {
  V1NamedRuleWithOperations,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import type { ResourceType } from '../../controller/kube-client.ts';
import type { TenantObject } from './objects.ts';

/**
 * The write freeze a migration puts in the tenant: a ValidatingAdmissionPolicy and its Binding, both named
 * `kamaji-freeze` (upstream names its freeze webhook so), that deny every CREATE, UPDATE and DELETE with a message
 * saying why. The tenant's API server evaluates it in process (CEL): no network path back to the operator is
 * needed, and reads keep working.
 */

export const FREEZE_NAME = 'kamaji-freeze';

export const freezeResources = {
  policy: {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    plural: 'validatingadmissionpolicies',
    namespaced: false,
  },
  binding: {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    plural: 'validatingadmissionpolicybindings',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;

const WRITES: V1NamedRuleWithOperations['operations'] = ['CREATE', 'UPDATE', 'DELETE'];

/**
 * A token request stores nothing (the token is signed, not saved), and the kubelet needs it to refresh pods'
 * service-account tokens during the freeze. Access and token reviews, which `kubectl logs`/`exec` through a kubelet
 * need, do not pass through admission at all (test/integration/migration-freeze.test.ts proves both).
 */
const STORES_NOTHING: V1NamedRuleWithOperations[] = [
  { apiGroups: [''], apiVersions: ['*'], operations: ['CREATE'], resources: ['serviceaccounts/token'] },
];

/** What a refused write says: why, and that it is temporary. */
export function freezeMessage(source: string, target: string): string {
  return `tenant is being migrated from DataStore ${source} to ${target}; writes are refused while its data is copied; retry in a moment`;
}

/** The policy and its binding, in the order they are applied (the binding names the policy). */
export function freezeObjects(source: string, target: string): TenantObject[] {
  const labels = { 'app.kubernetes.io/managed-by': 'kamaji' };
  const policy: V1ValidatingAdmissionPolicy = {
    apiVersion: freezeResources.policy.apiVersion,
    kind: freezeResources.policy.kind,
    metadata: { name: FREEZE_NAME, labels },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        // `*/*` is every resource and every subresource: a pod's status or binding is a write too.
        resourceRules: [{ apiGroups: ['*'], apiVersions: ['*'], operations: WRITES, resources: ['*/*'] }],
        excludeResourceRules: STORES_NOTHING,
      },
      validations: [{ expression: 'false', reason: 'Forbidden', message: freezeMessage(source, target) }],
    },
  };
  const binding: V1ValidatingAdmissionPolicyBinding = {
    apiVersion: freezeResources.binding.apiVersion,
    kind: freezeResources.binding.kind,
    metadata: { name: FREEZE_NAME, labels },
    spec: { policyName: FREEZE_NAME, validationActions: ['Deny'] },
  };
  return [
    { type: freezeResources.policy, object: policy },
    { type: freezeResources.binding, object: binding },
  ];
}

/**
 * A write that changes nothing (a server-side dry run) whose refusal proves the freeze is enforced by the API
 * server that answered: a ConfigMap in `default`, with a generated name so it can never collide.
 */
export const FREEZE_PROBE = {
  path: '/api/v1/namespaces/default/configmaps',
  query: { dryRun: 'All' },
  body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: `${FREEZE_NAME}-probe-` } },
} as const;
