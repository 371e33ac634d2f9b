import type { KubernetesObject } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { hasStatus, resourcePath } from '../../controller/kube-client.ts';
import { ADDON_TYPES, ADDONS, type AddonKey, addonChecksum, KUBE_SYSTEM, LABEL_ADDON } from '../steps/addons/common.ts';
import { coreDNSObjects } from '../steps/addons/coredns.ts';
import { KONNECTIVITY_AGENT_NAME, konnectivityAgentObjects } from '../steps/addons/konnectivity-agent.ts';
import { kubeProxyObjects } from '../steps/addons/kube-proxy.ts';
import { KONNECTIVITY_SERVER_USER } from '../steps/konnectivity.ts';
import { describeObject, type TenantObject } from '../steps/objects.ts';
import {
  AppliedChecksums,
  applyInTenant,
  type TenantCallFailure,
  TenantClients,
  type TenantConnection,
  tenantCallsFailed,
} from '../tenant-clients.ts';
import type { Phase, PhaseOutcome, PipelineDependencies, StatusUpdate, TenantReconcile } from './phase.ts';

/** The recorded "checksum" of an addon that is not in the spec and has nothing left in the tenant. */
const DISABLED = 'disabled';
const ADDON_KEYS = Object.keys(ADDONS) as AddonKey[];
const TITLES: Record<AddonKey, string> = {
  coreDNS: 'CoreDNS',
  kubeProxy: 'kube-proxy',
  konnectivity: 'the konnectivity agent',
};

interface AddonPlan {
  addon: AddonKey;
  /** What the addon wants in the tenant: none when it is not in the spec. */
  objects: TenantObject[];
  /** Checksum of the objects, or DISABLED. */
  wanted: string;
  /** What the status says was applied last, or DISABLED ('' when enabled but with no checksum recorded). */
  recorded: string;
}

/**
 * The addons of `spec.addons` (CoreDNS, kube-proxy, the tenant side of Konnectivity), applied through the tenant's
 * own API with its admin credentials once the control plane is available, as kubeadm's addon phases make them. An
 * addon removed from the spec is removed from the tenant: exactly the objects labelled `kamaji.clastix.io/addon=<it>`
 * (in kube-system, or cluster-scoped), which the same listing also uses to drop what an addon no longer wants (the
 * agent's DaemonSet after a switch to Deployment mode). Each addon's checksum goes to its status
 * (`status.addons.coreDNS.checksum`, `kubeProxy.checksum`, `konnectivity.agent.checksum`): while it matches, a pass
 * costs no call to the tenant (re-applied every 6 h); a tenant that never comes up costs nothing at all.
 */
export class AddonsPhase implements Phase {
  readonly name = 'addons';
  readonly condition = 'AddonsReady' as const;
  private readonly deps: PipelineDependencies;
  /** Per addon: the checksum applied, or DISABLED (removed). */
  private readonly applied = new AppliedChecksums<AddonKey>();
  private readonly clients: TenantClients;

  /** `clients` is shared with the other phases that call the tenant: one connection pool per tenant. */
  constructor(deps: PipelineDependencies, clients = new TenantClients(deps.client)) {
    this.deps = deps;
    this.clients = clients;
  }

  forget(key: string): void {
    this.applied.forget(key);
    this.clients.forget(key);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async run(reconcile: TenantReconcile): Promise<PhaseOutcome> {
    const available = reconcile.status.kubernetesResources?.version?.status === 'Ready';
    const now = this.now().getTime();
    const work: AddonPlan[] = [];
    for (const plan of ADDON_KEYS.map((addon) => planOf(addon, reconcile))) {
      // A removed addon is not re-applied: nothing of it is left to repair.
      const canReapply = available && plan.wanted !== DISABLED;
      if (this.applied.isCurrent(reconcile.key, plan.addon, plan.wanted, plan.recorded, now, canReapply)) {
        // Also records it when the status write of the pass that applied failed.
        if (plan.recorded !== plan.wanted || plan.wanted === DISABLED) {
          reconcile.observe(this.statusOf(plan, reconcile.tcp, plan.recorded !== plan.wanted));
        }
      } else {
        work.push(plan);
      }
    }
    if (work.length > 0 && !available) return waiting(work);
    if (work.length > 0) await this.reconcileAddons(reconcile, work, now);
    return applied(reconcile);
  }

  private async reconcileAddons(reconcile: TenantReconcile, work: readonly AddonPlan[], now: number): Promise<void> {
    const tenant = await this.clients.connect(reconcile);
    const failed: { plan: AddonPlan; failures: TenantCallFailure[] }[] = [];
    for (const plan of work) {
      let failures = await applyInTenant(tenant, plan.objects);
      if (failures.length === 0) failures = await prune(tenant, plan);
      if (failures.length > 0) {
        failed.push({ plan, failures });
        continue;
      }
      this.applied.record(reconcile.key, plan.addon, plan.wanted, now);
      reconcile.observe(this.statusOf(plan, reconcile.tcp, true));
    }
    const [first] = failed;
    if (!first) return;
    const { plan, failures } = first;
    const doing = plan.wanted === DISABLED ? 'removed' : 'applied';
    const others = failed.slice(1).map((entry) => `spec.addons.${entry.plan.addon}`);
    throw tenantCallsFailed(
      tenant,
      `${failures.length} object(s) of spec.addons.${plan.addon} could not be ${doing}${others.length ? ` (${others.join(', ')} failed too)` : ''}`,
      failures,
    );
  }

  /** The addon's status: enabled with what was applied, or disabled (clearing what an enabled one recorded). */
  private statusOf(plan: AddonPlan, tcp: TenantControlPlane, changed: boolean): StatusUpdate {
    const lastUpdate = changed ? this.now().toISOString() : undefined;
    const previous = tcp.status?.addons;
    if (plan.addon === 'konnectivity') {
      if (plan.wanted === DISABLED) {
        const had: Record<string, unknown> = previous?.konnectivity ?? {};
        const cleared = Object.fromEntries(
          (['agent', 'sa', 'clusterrolebinding'] as const).filter((key) => had[key]).map((key) => [key, null]),
        );
        return { addons: { konnectivity: { enabled: false, ...cleared } } } as StatusUpdate;
      }
      const workload = plan.objects.find((entry) => ['DaemonSet', 'Deployment'].includes(entry.type.kind));
      return {
        addons: {
          konnectivity: {
            enabled: true,
            agent: {
              name: KONNECTIVITY_AGENT_NAME,
              namespace: KUBE_SYSTEM,
              mode: workload?.type.kind ?? 'DaemonSet',
              checksum: plan.wanted,
              lastUpdate,
            },
            sa: { name: KONNECTIVITY_AGENT_NAME, namespace: KUBE_SYSTEM, lastUpdate },
            clusterrolebinding: { name: KONNECTIVITY_SERVER_USER, lastUpdate },
          },
        },
      };
    }
    if (plan.wanted === DISABLED) {
      const had = previous?.[plan.addon];
      return {
        addons: { [plan.addon]: { enabled: false, ...(had?.checksum ? { checksum: null, lastUpdate } : {}) } },
      } as StatusUpdate;
    }
    return { addons: { [plan.addon]: { enabled: true, checksum: plan.wanted, lastUpdate } } };
  }
}

function planOf(addon: AddonKey, reconcile: TenantReconcile): AddonPlan {
  const { spec } = reconcile;
  let objects: TenantObject[] = [];
  if (addon === 'coreDNS' && spec.addons?.coreDNS) objects = coreDNSObjects(spec);
  if (addon === 'kubeProxy' && spec.addons?.kubeProxy) objects = kubeProxyObjects(spec, reconcile.endpoint);
  if (addon === 'konnectivity' && spec.addons?.konnectivity) {
    objects = konnectivityAgentObjects(spec.addons.konnectivity, reconcile.endpoint);
  }
  return {
    addon,
    objects,
    wanted: objects.length > 0 ? addonChecksum(objects) : DISABLED,
    recorded: recordedChecksum(addon, reconcile.tcp),
  };
}

/**
 * What the status says is in the tenant for an addon. Never recorded counts as DISABLED: removing an addon that was
 * applied but whose status write was lost (a crash in between) before the next pass leaves its objects behind.
 */
function recordedChecksum(addon: AddonKey, tcp: TenantControlPlane): string {
  const addons = tcp.status?.addons;
  if (addon === 'konnectivity') {
    const agent = addons?.konnectivity?.agent;
    return agent?.name ? (agent.checksum ?? '') : DISABLED;
  }
  const status = addons?.[addon];
  return status?.enabled ? (status.checksum ?? '') : DISABLED;
}

/**
 * Deletes the addon's objects that it no longer wants: listed by its label, kube-system or cluster-scoped; each
 * deleted with its UID as a precondition. A 404 is done already.
 */
async function prune(tenant: TenantConnection, plan: AddonPlan): Promise<TenantCallFailure[]> {
  const keep = new Set(plan.objects.map(describeObject));
  const selector = `${LABEL_ADDON}=${ADDONS[plan.addon]}`;
  const failures: TenantCallFailure[] = [];
  await Promise.all(
    ADDON_TYPES[plan.addon].map(async (type) => {
      const namespace = type.namespaced ? KUBE_SYSTEM : undefined;
      let items: KubernetesObject[];
      try {
        const list = await tenant.caller.request<{ items?: KubernetesObject[] }>(
          'GET',
          resourcePath(type, { namespace }),
          { query: { labelSelector: selector } },
        );
        items = list.items ?? [];
      } catch (error) {
        failures.push({ name: `the ${type.kind} list labelled ${selector}`, error: error as Error });
        return;
      }
      for (const item of items) {
        const name = describeObject({ type, object: item });
        if (keep.has(name)) continue;
        try {
          await tenant.caller.request(
            'DELETE',
            resourcePath(type, { namespace: item.metadata?.namespace, name: item.metadata?.name }),
            {
              body: {
                apiVersion: 'v1',
                kind: 'DeleteOptions',
                propagationPolicy: 'Background',
                preconditions: { uid: item.metadata?.uid },
              },
            },
          );
        } catch (error) {
          if (!hasStatus(error, 404)) failures.push({ name, error: error as Error });
        }
      }
    }),
  );
  return failures;
}

function waiting(work: readonly AddonPlan[]): PhaseOutcome {
  const changes = work.map((plan) => `${plan.wanted === DISABLED ? 'remove' : 'apply'} ${TITLES[plan.addon]}`);
  return {
    condition: {
      status: 'Unknown',
      reason: 'WaitingForControlPlane',
      message: `waiting for the control plane to be available to ${changes.join(', ')}`,
    },
  };
}

function applied(reconcile: TenantReconcile): PhaseOutcome {
  const enabled = ADDON_KEYS.filter((addon) => reconcile.spec.addons?.[addon] !== undefined).map(
    (addon) => TITLES[addon],
  );
  return {
    condition:
      enabled.length === 0
        ? { status: 'True', reason: 'NoAddons', message: 'no addon in spec.addons, none left in the tenant' }
        : { status: 'True', reason: 'Applied', message: `in the tenant: ${enabled.join(', ')}` },
  };
}
