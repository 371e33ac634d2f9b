import type { V1DeploymentStrategy, V1ObjectMeta } from '@kubernetes/client-node';
import {
  anyValue,
  array,
  boolean,
  integer,
  intOrString,
  kubernetesObject,
  object,
  record,
  required,
  type Schema,
  type Static,
  string,
  stringEnum,
} from '../schema.ts';
import { AGE_COLUMN, type API_VERSION, type KindDefinition } from './group-version.ts';

// Values the API server fills in from the schema; defaults.ts relies on the same schema to apply them in code.
export const DEFAULT_REPLICAS = 2;
export const DEFAULT_REGISTRY_SETTINGS = {
  registry: 'registry.k8s.io',
  apiServerImage: 'kube-apiserver',
  controllerManagerImage: 'kube-controller-manager',
  schedulerImage: 'kube-scheduler',
};
export const DEFAULT_API_PORT = 6443;
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_KONNECTIVITY_SERVER = { image: 'registry.k8s.io/kas-network-proxy/proxy-server', port: 8132 };
export const DEFAULT_KONNECTIVITY_AGENT = {
  image: 'registry.k8s.io/kas-network-proxy/proxy-agent',
  mode: 'DaemonSet' as const,
};
export const DEFAULT_STRATEGY: V1DeploymentStrategy = {
  // Surge first, never drop a ready replica: the old pods serve until the new ones are ready.
  type: 'RollingUpdate',
  rollingUpdate: { maxUnavailable: 0, maxSurge: '100%' },
};

export const ADMISSION_CONTROLLERS = [
  'AlwaysAdmit',
  'AlwaysDeny',
  'AlwaysPullImages',
  'CertificateApproval',
  'CertificateSigning',
  'CertificateSubjectRestriction',
  'DefaultIngressClass',
  'DefaultStorageClass',
  'DefaultTolerationSeconds',
  'DenyEscalatingExec',
  'DenyExecOnPrivileged',
  'DenyServiceExternalIPs',
  'EventRateLimit',
  'ExtendedResourceToleration',
  'ImagePolicyWebhook',
  'LimitPodHardAntiAffinityTopology',
  'LimitRanger',
  'MutatingAdmissionWebhook',
  'NamespaceAutoProvision',
  'NamespaceExists',
  'NamespaceLifecycle',
  'NodeRestriction',
  'OwnerReferencesPermissionEnforcement',
  'PersistentVolumeClaimResize',
  'PersistentVolumeLabel',
  'PodNodeSelector',
  'PodSecurity',
  'PodSecurityPolicy',
  'PodTolerationRestriction',
  'Priority',
  'ResourceQuota',
  'RuntimeClass',
  'SecurityContextDeny',
  'ServiceAccount',
  'StorageObjectInUseProtection',
  'TaintNodesByCondition',
  'ValidatingAdmissionWebhook',
] as const;
export type AdmissionController = (typeof ADMISSION_CONTROLLERS)[number];

export const DEFAULT_ADMISSION_CONTROLLERS: AdmissionController[] = [
  'CertificateApproval',
  'CertificateSigning',
  'CertificateSubjectRestriction',
  'DefaultIngressClass',
  'DefaultStorageClass',
  'DefaultTolerationSeconds',
  'LimitRanger',
  'MutatingAdmissionWebhook',
  'NamespaceLifecycle',
  'PersistentVolumeClaimResize',
  'Priority',
  'ResourceQuota',
  'RuntimeClass',
  'ServiceAccount',
  'StorageObjectInUseProtection',
  'TaintNodesByCondition',
  'ValidatingAdmissionWebhook',
];

export const KUBELET_ADDRESS_TYPES = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'] as const;
export type KubeletAddressType = (typeof KUBELET_ADDRESS_TYPES)[number];
export const DEFAULT_KUBELET_ADDRESS_TYPES: KubeletAddressType[] = ['InternalIP', 'ExternalIP', 'Hostname'];

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;

/** The steps of a migration between DataStores, as status.storage.migration records them. */
export const MIGRATION_STEPS = ['Copying', 'Switched', 'Failed'] as const;
export type MigrationStep = (typeof MIGRATION_STEPS)[number];

export const VERSION_STATUSES = [
  'Unknown',
  'Provisioning',
  'CertificateAuthorityRotating',
  'Upgrading',
  'Migrating',
  'Ready',
  'NotReady',
  'Sleeping',
  'WriteLimited',
] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN = `${DNS_LABEL}(\\.${DNS_LABEL})*`;

// ---- shared pieces ----

function additionalMetadata(description: string) {
  return object({ labels: record(string()), annotations: record(string()) }, { description });
}

/** One field per control-plane component, all of the same schema. */
function perComponent<T>(make: () => Schema<T>) {
  return { apiServer: make(), controllerManager: make(), scheduler: make() };
}

function probeSettings(description: string) {
  return object(
    {
      initialDelaySeconds: integer({ format: 'int32', minimum: 0, description: 'Seconds before the first probe.' }),
      timeoutSeconds: integer({ format: 'int32', minimum: 1, description: 'Seconds before a probe times out.' }),
      periodSeconds: integer({ format: 'int32', minimum: 1, description: 'Seconds between probes.' }),
      successThreshold: integer({
        format: 'int32',
        minimum: 1,
        description: 'Successes in a row that count as success (1 for liveness and startup).',
      }),
      failureThreshold: integer({
        format: 'int32',
        minimum: 1,
        description: 'Failures in a row that count as failure.',
      }),
    },
    { description },
  );
}

function componentProbes(component: string) {
  return object(
    {
      liveness: probeSettings('Liveness probe settings.'),
      readiness: probeSettings('Readiness probe settings.'),
      startup: probeSettings('Startup probe settings.'),
    },
    { description: `Probe settings for ${component}, over the ones for all components.` },
  );
}

const lastUpdate = () => string({ format: 'date-time', description: 'When the object was last updated.' });

function secretStatus(description: string) {
  return object(
    {
      secretName: string({ description: 'Name of the Secret.' }),
      checksum: string({ description: 'Checksum of its content, to notice changes.' }),
      lastUpdate: lastUpdate(),
    },
    { description },
  );
}

function objectStatus(description: string) {
  return object({ name: string(), namespace: string(), lastUpdate: lastUpdate() }, { description });
}

function serviceStatus(description: string) {
  return object(
    {
      name: required(string({ description: 'Name of the Service.' })),
      namespace: required(string({ description: 'Namespace of the Service.' })),
      port: required(integer({ format: 'int32', description: 'The port it listens on.' })),
      conditions: array(kubernetesObject('io.k8s.apimachinery.pkg.apis.meta.v1.Condition'), {
        listType: 'map',
        listMapKeys: ['type'],
        description: "The Service's conditions.",
      }),
      loadBalancer: kubernetesObject('io.k8s.api.core.v1.LoadBalancerStatus', {
        description: "The Service's load balancer, if any.",
      }),
    },
    { description },
  );
}

export type { RouteParentStatus } from '../core-schemas/index.ts';

function gatewayStatus(description: string) {
  return object(
    {
      parents: required(
        array(kubernetesObject('io.k8s.sigs.gateway-api.apis.v1.RouteParentStatus'), {
          maxItems: 32,
          listType: 'atomic',
          description: 'The Gateways the route is attached to, and its status with each.',
        }),
      ),
      routeRef: object(
        { name: string({ default: '', description: 'Name of the route.' }) },
        { mapType: 'atomic', description: 'The route created for this tenant.' },
      ),
      accessPoints: array(
        object({
          type: required(
            string({
              minLength: 1,
              maxLength: 253,
              pattern: `^Hostname|IPAddress|NamedAddress|${DNS_SUBDOMAIN}\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$`,
              description: 'Address type: Hostname, IPAddress, NamedAddress or a domain-prefixed type.',
            }),
          ),
          value: required(string({ description: 'The address.' })),
          port: required(integer({ format: 'int32' })),
          urls: array(string()),
        }),
        { description: 'Where the route can be reached.' },
      ),
    },
    { description },
  );
}

function addonStatus(description: string) {
  return object(
    {
      enabled: required(boolean()),
      checksum: string({ description: 'Checksum of the objects applied in the tenant (not in upstream Kamaji).' }),
      lastUpdate: lastUpdate(),
    },
    { description },
  );
}

// ---- spec ----

export const ParentReferenceSchema = object({
  group: string({
    default: 'gateway.networking.k8s.io',
    maxLength: 253,
    pattern: `^$|^${DNS_SUBDOMAIN}$`,
    description: 'API group of the parent; empty for the core group.',
  }),
  kind: string({
    default: 'Gateway',
    minLength: 1,
    maxLength: 63,
    pattern: '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$',
    description: 'Kind of the parent.',
  }),
  name: required(string({ minLength: 1, maxLength: 253, description: 'Name of the parent.' })),
  namespace: string({
    minLength: 1,
    maxLength: 63,
    pattern: `^${DNS_LABEL}$`,
    description: "Namespace of the parent; the route's own when unset.",
  }),
  sectionName: string({
    minLength: 1,
    maxLength: 253,
    pattern: `^${DNS_SUBDOMAIN}$`,
    description: 'A section of the parent, e.g. a Gateway listener name.',
  }),
  port: integer({ format: 'int32', minimum: 1, maximum: 65535, description: 'A port of the parent.' }),
});
/** Gateway API's ParentReference: which Gateway (listener) a route attaches to. */
export type ParentReference = Static<typeof ParentReferenceSchema>;

export const RegistrySettingsSchema = object(
  {
    registry: string({
      default: DEFAULT_REGISTRY_SETTINGS.registry,
      description: 'Registry of the control-plane images.',
    }),
    apiServerImage: string({
      default: DEFAULT_REGISTRY_SETTINGS.apiServerImage,
      description: 'Image name of kube-apiserver.',
    }),
    controllerManagerImage: string({
      default: DEFAULT_REGISTRY_SETTINGS.controllerManagerImage,
      description: 'Image name of kube-controller-manager.',
    }),
    schedulerImage: string({
      default: DEFAULT_REGISTRY_SETTINGS.schedulerImage,
      description: 'Image name of kube-scheduler.',
    }),
    tagSuffix: string({ description: 'Appended to the tag of every control-plane image.' }),
  },
  {
    default: DEFAULT_REGISTRY_SETTINGS,
    description: 'Where the control-plane images come from.',
  },
);
export type RegistrySettings = Static<typeof RegistrySettingsSchema>;

export const DeploymentSpecSchema = object(
  {
    replicas: integer({
      format: 'int32',
      default: DEFAULT_REPLICAS,
      description: 'Control-plane pods; 0 puts the tenant to sleep.',
    }),
    strategy: kubernetesObject('io.k8s.api.apps.v1.DeploymentStrategy', {
      default: DEFAULT_STRATEGY,
      description: 'How pods are replaced; by default new ones start before any old one stops.',
    }),
    registrySettings: RegistrySettingsSchema,
    serviceAccountName: string({ default: 'default', description: 'Service account of the control-plane pods.' }),
    automountServiceAccountToken: boolean({ description: "Mount the service account's token into the pods." }),
    runtimeClassName: string({ description: 'RuntimeClass of the control-plane pods.' }),
    nodeSelector: record(string(), { description: 'Node labels the pods must be scheduled on.' }),
    tolerations: array(kubernetesObject('io.k8s.api.core.v1.Toleration'), { description: 'Tolerations of the pods.' }),
    affinity: kubernetesObject('io.k8s.api.core.v1.Affinity', { description: 'Scheduling affinity of the pods.' }),
    topologySpreadConstraints: array(kubernetesObject('io.k8s.api.core.v1.TopologySpreadConstraint'), {
      description: 'How the pods spread across topology domains.',
    }),
    additionalMetadata: additionalMetadata('Labels and annotations added to the Deployment.'),
    podAdditionalMetadata: additionalMetadata('Labels and annotations added to the pods.'),
    extraArgs: object(
      {
        ...perComponent(() => array(string())),
        kine: array(string(), { description: 'Only used when the datastore is reached through kine.' }),
      },
      { description: 'Extra command-line flags per component; they can override the ones Kamaji sets.' },
    ),
    resources: object(
      {
        ...perComponent(() => kubernetesObject('io.k8s.api.core.v1.ResourceRequirements')),
        kine: kubernetesObject('io.k8s.api.core.v1.ResourceRequirements'),
      },
      { description: 'CPU and memory of each component.' },
    ),
    probes: object(
      {
        liveness: probeSettings('Liveness probe settings for all components.'),
        readiness: probeSettings('Readiness probe settings for all components.'),
        startup: probeSettings('Startup probe settings for all components.'),
        apiServer: componentProbes('kube-apiserver'),
        controllerManager: componentProbes('kube-controller-manager'),
        scheduler: componentProbes('kube-scheduler'),
      },
      { description: 'Probe timings of the components, e.g. longer ones on slow machines.' },
    ),
    podSecurityContext: kubernetesObject('io.k8s.api.core.v1.PodSecurityContext', {
      description: 'Security context of the pods.',
    }),
    containerSecurityContexts: object(
      perComponent(() => kubernetesObject('io.k8s.api.core.v1.SecurityContext')),
      {
        description: 'Security context of each component container.',
      },
    ),
    additionalInitContainers: array(kubernetesObject('io.k8s.api.core.v1.Container'), {
      description: 'Init containers added to the control-plane pods.',
    }),
    additionalContainers: array(kubernetesObject('io.k8s.api.core.v1.Container'), {
      description: 'Containers added to the control-plane pods.',
    }),
    additionalVolumes: array(kubernetesObject('io.k8s.api.core.v1.Volume'), {
      description: 'Volumes added to the control-plane pods.',
    }),
    additionalVolumeMounts: object(
      perComponent(() => array(kubernetesObject('io.k8s.api.core.v1.VolumeMount'))),
      {
        description: 'Volume mounts added to each component container.',
      },
    ),
  },
  { description: 'The Deployment that runs the control-plane components.' },
);
export type DeploymentSpec = Static<typeof DeploymentSpecSchema>;

export const ServiceSpecSchema = object(
  {
    serviceType: required(stringEnum(SERVICE_TYPES, { description: 'ClusterIP, NodePort or LoadBalancer.' })),
    additionalMetadata: additionalMetadata('Labels and annotations added to the Service.'),
    additionalPorts: array(
      object({
        name: required(
          string({ description: 'Port name, a DNS label other than kube-apiserver and konnectivity-server.' }),
        ),
        port: required(integer({ format: 'int32', description: 'Port of the Service.' })),
        targetPort: required(intOrString({ description: 'Number or name of the port on the pods.' })),
        protocol: stringEnum(['TCP', 'UDP', 'SCTP'], { default: 'TCP', description: 'TCP, UDP or SCTP.' }),
        appProtocol: string({ description: 'Application protocol, a hint for implementations.' }),
      }),
      { description: 'More ports on the Service, to the control-plane pods.' },
    ),
    allocateLoadBalancerNodePorts: boolean({
      description: 'With a LoadBalancer Service: whether node ports are allocated too (Kubernetes default: true).',
    }),
  },
  { description: 'The Service in front of the control-plane pods.' },
);
export type ServiceSpec = Static<typeof ServiceSpecSchema>;

export const ControlPlaneSpecSchema = object(
  {
    deployment: DeploymentSpecSchema,
    service: required(ServiceSpecSchema),
    ingress: object(
      {
        hostname: string({ description: 'Host of the Ingress; <tenant>.<namespace>.<cluster domain> when unset.' }),
        ingressClassName: string({ description: 'IngressClass to use.' }),
        additionalMetadata: additionalMetadata('Labels and annotations added to the Ingress.'),
      },
      { description: 'Also expose the API server through an Ingress.' },
    ),
    gateway: object(
      {
        hostname: string({
          minLength: 1,
          maxLength: 253,
          pattern: `^(\\*\\.)?${DNS_SUBDOMAIN}$`,
          description: 'Hostname of the route.',
        }),
        parentRefs: array(ParentReferenceSchema, { description: 'The Gateways the route attaches to.' }),
        additionalMetadata: additionalMetadata('Labels and annotations added to the route.'),
      },
      { description: 'Also expose the API server through a Gateway API TLSRoute.' },
    ),
  },
  {
    description: 'How the control plane runs and is exposed in the admin cluster.',
    validations: [
      {
        rule: '!(has(self.ingress) && has(self.gateway))',
        message: 'using both ingress and gateway is not supported',
        fieldPath: '.gateway',
        reason: 'FieldValueForbidden',
      },
    ],
  },
);
export type ControlPlaneSpec = Static<typeof ControlPlaneSpecSchema>;

export const KubeletSpecSchema = object(
  {
    preferredAddressTypes: array(stringEnum(KUBELET_ADDRESS_TYPES), {
      default: DEFAULT_KUBELET_ADDRESS_TYPES,
      minItems: 1,
      listType: 'set',
      description: 'Node address types the API server tries, in order, to reach kubelets.',
    }),
    cgroupfs: stringEnum(['systemd', 'cgroupfs'], {
      description: 'Cgroup driver of the kubelet. Deprecated: use configurationJSONPatches.',
    }),
    configurationJSONPatches: array(
      object({
        op: required(stringEnum(['add', 'remove', 'replace', 'move', 'copy', 'test'], { description: 'RFC 6902 op.' })),
        path: required(string({ description: 'JSON pointer to the target.' })),
        from: string({ description: 'Source pointer, for move and copy.' }),
        value: anyValue({ description: 'The value, for add, replace and test.' }),
      }),
      { description: 'RFC 6902 JSON patches applied to the kubelet configuration that joining nodes get.' },
    ),
  },
  { description: 'How the control plane and joining kubelets work together.' },
);
export type KubeletSpec = Static<typeof KubeletSpecSchema>;

export const KubernetesSpecSchema = object(
  {
    version: required(
      string({
        pattern: '^v[0-9]+\\.[0-9]+\\.[0-9]+$',
        description: 'Kubernetes version of the control plane, as vX.Y.Z.',
      }),
    ),
    kubelet: required(KubeletSpecSchema),
    admissionControllers: array(stringEnum(ADMISSION_CONTROLLERS), {
      default: DEFAULT_ADMISSION_CONTROLLERS,
      description: 'Admission plugins the API server enables.',
    }),
  },
  { description: 'The Kubernetes the tenant runs.' },
);
export type KubernetesSpec = Static<typeof KubernetesSpecSchema>;

export const NetworkProfileSchema = object(
  {
    address: string({
      description: 'Address the API server is exposed on; with a LoadBalancer Service, empty takes the one it gets.',
    }),
    advertiseAddress: string({
      description: 'IP address advertised to the tenant (kubelets, konnectivity, the kubernetes Service).',
      validations: [{ rule: "self == '' || isIP(self)", message: 'advertiseAddress must be a valid IP address' }],
    }),
    allowAddressAsExternalIP: boolean({
      description: 'Add address to the externalIPs of a ClusterIP or NodePort Service.',
    }),
    port: integer({ format: 'int32', default: DEFAULT_API_PORT, description: 'Port the API server is exposed on.' }),
    certSANs: array(string(), { description: 'More subject alternative names for the API server certificate.' }),
    clusterDomain: string({
      default: DEFAULT_CLUSTER_DOMAIN,
      pattern: '.*\\..*',
      description: 'DNS domain of the tenant cluster. Cannot be changed.',
      validations: [{ rule: 'self == oldSelf', message: 'changing the cluster domain is not supported' }],
    }),
    serviceCidr: string({
      default: DEFAULT_SERVICE_CIDR,
      description: 'Service CIDR. Deprecated: use serviceCidrs.',
      validations: [{ rule: "self == '' || isCIDR(self)", message: 'serviceCidr must be empty or a valid CIDR' }],
    }),
    podCidr: string({
      default: DEFAULT_POD_CIDR,
      description: 'Pod CIDR. Deprecated: use podCidrs.',
      validations: [{ rule: "self == '' || isCIDR(self)", message: 'podCidr must be empty or a valid CIDR' }],
    }),
    serviceCidrs: array(string(), {
      minItems: 1,
      maxItems: 2,
      description: 'Service CIDRs, one per IP family; over serviceCidr.',
      validations: [{ rule: 'self.all(x, isCIDR(x))', message: 'all serviceCidrs entries must be valid CIDRs' }],
    }),
    podCidrs: array(string(), {
      minItems: 1,
      maxItems: 2,
      description: 'Pod CIDRs, one per IP family; over podCidr.',
      validations: [{ rule: 'self.all(x, isCIDR(x))', message: 'all podCidrs entries must be valid CIDRs' }],
    }),
    dnsServiceIPs: array(string(), {
      maxItems: 8,
      description: 'Cluster DNS Service IPs, inside the Service CIDRs; the 10th address of each when unset.',
    }),
    loadBalancerClass: string({
      minLength: 1,
      description: 'LoadBalancer class of the Service (LoadBalancer Services only). Cannot be changed.',
      validations: [{ rule: 'self == oldSelf', message: 'LoadBalancerClass is immutable' }],
    }),
    loadBalancerSourceRanges: array(string(), {
      maxItems: 16,
      description: 'CIDRs allowed to reach a LoadBalancer Service (all when empty).',
      validations: [
        { rule: 'self.all(r, isCIDR(r))', message: 'all LoadBalancer source range entries must be valid CIDR' },
      ],
    }),
  },
  { description: 'Addresses and networks of the tenant cluster.' },
);
export type NetworkProfile = Static<typeof NetworkProfileSchema>;

export const KonnectivitySpecSchema = object(
  {
    server: object(
      {
        port: required(integer({ format: 'int32', description: 'Port konnectivity-server listens on for agents.' })),
        image: string({ default: DEFAULT_KONNECTIVITY_SERVER.image, description: 'Server image.' }),
        version: string({ description: 'Server image tag; v0.34.0 when unset.' }),
        extraArgs: array(string(), {
          description: 'Extra flags for the server; the ones Kamaji sets (ports, certificates, socket) win.',
        }),
        resources: kubernetesObject('io.k8s.api.core.v1.ResourceRequirements', {
          description: 'CPU and memory of the server.',
        }),
        securityContext: kubernetesObject('io.k8s.api.core.v1.SecurityContext', {
          description: 'Security context of the server.',
        }),
      },
      {
        default: DEFAULT_KONNECTIVITY_SERVER,
        description: 'konnectivity-server, a sidecar of the API server.',
      },
    ),
    agent: object(
      {
        image: string({ default: DEFAULT_KONNECTIVITY_AGENT.image, description: 'Agent image.' }),
        version: string({ description: "Agent image tag; derived from the tenant's Kubernetes version when unset." }),
        mode: stringEnum(['DaemonSet', 'Deployment'], {
          default: DEFAULT_KONNECTIVITY_AGENT.mode,
          description: 'How agents run.',
        }),
        replicas: integer({ format: 'int32', description: 'Agents in Deployment mode; 0 or unset for a DaemonSet.' }),
        hostNetwork: boolean({
          default: false,
          description: "Run agents in the node's network namespace, so they work before the CNI is up.",
        }),
        tolerations: array(kubernetesObject('io.k8s.api.core.v1.Toleration'), {
          default: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
          description: 'Tolerations of the agents.',
        }),
        extraArgs: array(string(), { description: 'Extra flags; they can override the ones Kamaji sets.' }),
      },
      {
        default: DEFAULT_KONNECTIVITY_AGENT,
        description: 'konnectivity-agent, in the tenant cluster.',
        validations: [
          {
            rule: "!(self.mode == 'DaemonSet' && has(self.replicas) && self.replicas != 0) && !(self.mode == 'Deployment' && has(self.replicas) && self.replicas == 0)",
            message:
              'replicas must be 0 (or unset) when mode is DaemonSet, and greater than 0 (or unset) when mode is Deployment',
            fieldPath: '.replicas',
          },
        ],
      },
    ),
  },
  { description: 'Konnectivity, for worker nodes the API server cannot reach directly.' },
);
export type KonnectivitySpec = Static<typeof KonnectivitySpecSchema>;

function imageOverride(addon: string) {
  return object(
    {
      imageRepository: string({ description: 'Registry to pull from instead of the default one.' }),
      imageTag: string({ description: 'Image tag; kubeadm then no longer changes it on upgrades.' }),
    },
    { description: `Deploy ${addon} in the tenant cluster.` },
  );
}

export const AddonsSpecSchema = object(
  { coreDNS: imageOverride('CoreDNS'), kubeProxy: imageOverride('kube-proxy'), konnectivity: KonnectivitySpecSchema },
  { description: 'Add-ons deployed in the tenant cluster; each is enabled by being present.' },
);
export type AddonsSpec = Static<typeof AddonsSpecSchema>;

/** CEL: `root` (self or oldSelf) sets networkProfile.<field>; safe when networkProfile is absent. */
function hasNetworkField(root: string, field: string): string {
  return `(has(${root}.networkProfile) && has(${root}.networkProfile.${field}))`;
}

const isLoadBalancer = (root: string) => `(${root}.controlPlane.service.serviceType == 'LoadBalancer')`;

/**
 * A tenant's datastore schema and user name: a plain identifier in every backend (an etcd key prefix segment, a SQL
 * database or role name), so that no value can reach into another tenant's range (no `/`) or need quoting.
 * Upstream accepts any string; this is a deliberate tightening (the identity is a security boundary).
 */
export const DATASTORE_IDENTIFIER = { pattern: '^[a-z0-9_]+$', minLength: 1, maxLength: 63 } as const;

export const TenantControlPlaneSpecSchema = object(
  {
    dataStore: string({
      description:
        'DataStore that holds this tenant; the default one when unset; it cannot be unset. Changing it migrates the tenant: its data is copied to the new DataStore under a short write freeze (status.storage.dataStoreName says where the data is until the switch; docs/migration.md).',
    }),
    dataStoreSchema: string({
      description:
        'Database name (SQL) or key prefix (etcd) of this tenant; set once, by default from its identity. Lower-case letters, digits and underscores; unique per DataStore.',
      ...DATASTORE_IDENTIFIER,
      validations: [{ rule: 'self == oldSelf', message: 'changing the dataStoreSchema is not supported' }],
    }),
    dataStoreUsername: string({
      description:
        'Datastore user of this tenant; set once, by default from its identity. Lower-case letters, digits and underscores; unique per DataStore.',
      ...DATASTORE_IDENTIFIER,
      validations: [{ rule: 'self == oldSelf', message: 'changing the dataStoreUsername is not supported' }],
    }),
    dataStoreOverrides: array(
      object({
        resource: string({ description: 'A built-in resource, as group/resource (e.g. /events).' }),
        dataStore: string({ description: 'The DataStore that holds it.' }),
      }),
      { description: 'Built-in resources stored in another DataStore (--etcd-servers-overrides).' },
    ),
    controlPlane: required(ControlPlaneSpecSchema),
    kubernetes: required(KubernetesSpecSchema),
    networkProfile: NetworkProfileSchema,
    addons: AddonsSpecSchema,
    writePermissions: object(
      {
        blockCreation: boolean({ description: 'Refuse creating objects.' }),
        blockUpdate: boolean({ description: 'Refuse updating objects.' }),
        blockDeletion: boolean({ description: 'Refuse deleting objects.' }),
      },
      { description: 'Writes the tenant API server refuses, e.g. during a migration or when over quota.' },
    ),
  },
  {
    description: 'The desired tenant control plane.',
    validations: [
      ...(['dataStore', 'dataStoreSchema', 'dataStoreUsername'] as const).map((field) => ({
        rule: `!has(oldSelf.${field}) || has(self.${field})`,
        message: `unsetting the ${field} is not supported`,
        fieldPath: `.${field}`,
        reason: 'FieldValueRequired' as const,
      })),
      {
        rule: `!${hasNetworkField('self', 'loadBalancerSourceRanges')} || size(self.networkProfile.loadBalancerSourceRanges) == 0 || ${isLoadBalancer('self')}`,
        message: 'LoadBalancer source ranges are supported only with LoadBalancer service type',
        fieldPath: '.networkProfile.loadBalancerSourceRanges',
        reason: 'FieldValueForbidden',
      },
      {
        rule: `!${hasNetworkField('self', 'loadBalancerClass')} || ${isLoadBalancer('self')}`,
        message: 'LoadBalancerClass is supported only with LoadBalancer service type',
        fieldPath: '.networkProfile.loadBalancerClass',
        reason: 'FieldValueForbidden',
      },
      {
        rule: "!has(self.controlPlane.service.allocateLoadBalancerNodePorts) || self.controlPlane.service.serviceType == 'LoadBalancer'",
        message: 'allocateLoadBalancerNodePorts is supported only with LoadBalancer service type',
        fieldPath: '.controlPlane.service.allocateLoadBalancerNodePorts',
        reason: 'FieldValueForbidden',
      },
      {
        // Only when a LoadBalancer Service stays one: switching to LoadBalancer is when the class may be chosen.
        rule: `!${isLoadBalancer('self')} || !${isLoadBalancer('oldSelf')} || ${hasNetworkField('self', 'loadBalancerClass')} == ${hasNetworkField('oldSelf', 'loadBalancerClass')}`,
        message: 'LoadBalancerClass cannot be set or unset at runtime',
        fieldPath: '.networkProfile.loadBalancerClass',
        reason: 'FieldValueForbidden',
      },
    ],
  },
);
export type TenantControlPlaneSpec = Static<typeof TenantControlPlaneSpecSchema>;

// ---- status ----

export const TenantControlPlaneStatusSchema = object(
  {
    controlPlaneEndpoint: string({ description: 'Address (host:port) of the tenant API server.' }),
    // An addition to upstream's status: what went wrong and what is not honoured yet, in a form users act on.
    conditions: array(kubernetesObject('io.k8s.apimachinery.pkg.apis.meta.v1.Condition'), {
      description: 'Ready, DataStoreReady, and which requested fields are not honoured yet, with reason and message.',
    }),
    observedGeneration: integer({ format: 'int64', description: 'The metadata.generation last reconciled.' }),
    kubernetesResources: object(
      {
        version: object(
          {
            version: string({ description: 'The Kubernetes version running.' }),
            status: stringEnum(VERSION_STATUSES, { default: 'Provisioning', description: 'Where the tenant is at.' }),
          },
          { description: 'The version running and the state of the tenant.' },
        ),
        deployment: object(
          {
            name: required(string()),
            namespace: required(string()),
            selector: required(string({ description: 'Label selector of the pods, for the scale subresource.' })),
            lastUpdate: lastUpdate(),
            replicas: integer({ format: 'int32' }),
            updatedReplicas: integer({ format: 'int32' }),
            readyReplicas: integer({ format: 'int32' }),
            availableReplicas: integer({ format: 'int32' }),
            unavailableReplicas: integer({ format: 'int32' }),
            terminatingReplicas: integer({ format: 'int32' }),
            collisionCount: integer({ format: 'int32' }),
            observedGeneration: integer({ format: 'int64' }),
            conditions: array(kubernetesObject('io.k8s.api.apps.v1.DeploymentCondition'), {
              listType: 'map',
              listMapKeys: ['type'],
            }),
          },
          { description: 'The control-plane Deployment and its status.' },
        ),
        service: serviceStatus('The Service of the API server.'),
        ingress: object(
          {
            name: required(string()),
            namespace: required(string()),
            loadBalancer: kubernetesObject('io.k8s.api.networking.v1.IngressLoadBalancerStatus'),
          },
          { description: 'The Ingress of the API server.' },
        ),
        gateway: gatewayStatus('The route of the API server.'),
      },
      { description: 'The resources Kamaji created in the admin cluster.' },
    ),
    certificates: object(
      {
        ca: secretStatus('The cluster CA.'),
        apiServer: secretStatus('The API server serving certificate.'),
        apiServerKubeletClient: secretStatus('The API server client certificate for kubelets.'),
        frontProxyCA: secretStatus('The front proxy CA.'),
        frontProxyClient: secretStatus('The front proxy client certificate.'),
        sa: secretStatus('The service account signing key pair.'),
        etcd: object(
          { ca: secretStatus('The etcd CA.'), apiServer: secretStatus('The API server etcd client certificate.') },
          { description: 'Certificates for etcd.' },
        ),
      },
      { description: 'The certificates of the control plane.' },
    ),
    kubeconfig: object(
      {
        admin: secretStatus('The admin kubeconfig.'),
        controllerManager: secretStatus('The kube-controller-manager kubeconfig.'),
        scheduler: secretStatus('The kube-scheduler kubeconfig.'),
      },
      { description: 'The kubeconfigs of the control plane.' },
    ),
    kubeadmconfig: object(
      {
        configmapName: string(),
        checksum: string({ description: 'Checksum of the kubeadm configuration, to notice changes.' }),
        lastUpdate: lastUpdate(),
      },
      { description: 'The kubeadm configuration.' },
    ),
    kubeadmPhase: object(
      {
        bootstrapToken: required(
          object({ checksum: string(), lastUpdate: lastUpdate() }, { description: 'The bootstrap token phase.' }),
        ),
      },
      { description: 'The kubeadm phases run.' },
    ),
    storage: object(
      {
        driver: string({ description: 'Driver of the DataStore in use.' }),
        dataStoreName: string({ description: 'The DataStore in use.' }),
        config: object({ secretName: string(), checksum: string() }, { description: 'The datastore connection.' }),
        certificate: secretStatus('The datastore client certificate.'),
        setup: object(
          { schema: string(), user: string(), checksum: string(), lastUpdate: lastUpdate() },
          { description: 'The database or prefix and user created for the tenant.' },
        ),
        migration: object(
          {
            source: required(string({ description: 'The DataStore the data is moved from.' })),
            target: required(string({ description: 'The DataStore the data is moved to.' })),
            step: required(
              stringEnum(MIGRATION_STEPS, {
                description:
                  'Copying: the target is being prepared and filled (nothing is switched; a failure rolls back). Switched: the tenant is served from the target; the freeze and the data on the source are removed once the control plane rolled out on it. Failed: rolled back, retried after a backoff.',
              }),
            ),
            attempts: integer({ description: 'Failed attempts so far (the retry backoff grows with them).' }),
            keys: integer({ description: 'Keys copied.' }),
            message: string({ description: 'Why the last attempt failed.' }),
            lastUpdate: lastUpdate(),
          },
          {
            description:
              'A migration to another DataStore under way or pending cleanup (not in upstream Kamaji): what a restarted operator resumes from.',
          },
        ),
      },
      { description: 'Where the tenant state is stored.' },
    ),
    addons: object(
      {
        coreDNS: addonStatus('CoreDNS.'),
        kubeProxy: addonStatus('kube-proxy.'),
        konnectivity: object(
          {
            enabled: required(boolean()),
            agent: object(
              {
                name: string(),
                namespace: string(),
                mode: string(),
                checksum: string({
                  description: 'Checksum of the agent objects applied in the tenant (not in upstream Kamaji).',
                }),
                lastUpdate: lastUpdate(),
              },
              { description: 'The agent DaemonSet or Deployment.' },
            ),
            certificate: secretStatus('The server certificate.'),
            kubeconfig: secretStatus('The server kubeconfig.'),
            configMap: object({ name: string(), checksum: string() }, { description: 'The egress selector config.' }),
            sa: objectStatus('The agent service account.'),
            clusterrolebinding: objectStatus('The agent cluster role binding.'),
            service: serviceStatus('The Service of the server.'),
            gateway: gatewayStatus('The route of the server.'),
          },
          { description: 'Konnectivity.' },
        ),
      },
      { description: 'The add-ons deployed.' },
    ),
  },
  { description: 'What Kamaji observed about the tenant control plane.' },
);
export type TenantControlPlaneStatus = Static<typeof TenantControlPlaneStatusSchema>;

export interface TenantControlPlane {
  apiVersion: typeof API_VERSION;
  kind: 'TenantControlPlane';
  metadata: V1ObjectMeta;
  spec: TenantControlPlaneSpec;
  status?: TenantControlPlaneStatus;
}

export const tenantControlPlaneKind: KindDefinition = {
  kind: 'TenantControlPlane',
  plural: 'tenantcontrolplanes',
  singular: 'tenantcontrolplane',
  shortNames: ['tcp'],
  categories: ['kamaji'],
  scope: 'Namespaced',
  description: 'A Kubernetes control plane run as pods in the admin cluster for a tenant cluster.',
  spec: TenantControlPlaneSpecSchema,
  status: TenantControlPlaneStatusSchema,
  printerColumns: [
    { name: 'Version', type: 'string', jsonPath: '.spec.kubernetes.version', description: 'Desired version' },
    {
      name: 'Installed Version',
      type: 'string',
      jsonPath: '.status.kubernetesResources.version.version',
      description: 'Version running',
    },
    { name: 'Status', type: 'string', jsonPath: '.status.kubernetesResources.version.status', description: 'State' },
    {
      name: 'Control-Plane endpoint',
      type: 'string',
      jsonPath: '.status.controlPlaneEndpoint',
      description: 'Address of the API server',
    },
    {
      name: 'Kubeconfig',
      type: 'string',
      jsonPath: '.status.kubeconfig.admin.secretName',
      description: 'Secret holding the admin kubeconfig',
    },
    { name: 'Datastore', type: 'string', jsonPath: '.status.storage.dataStoreName', description: 'DataStore in use' },
    AGE_COLUMN,
  ],
  scale: {
    specReplicasPath: '.spec.controlPlane.deployment.replicas',
    statusReplicasPath: '.status.kubernetesResources.deployment.replicas',
    labelSelectorPath: '.status.kubernetesResources.deployment.selector',
  },
};
