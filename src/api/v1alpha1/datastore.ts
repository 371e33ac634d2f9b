import type { V1ObjectMeta } from '@kubernetes/client-node';
import {
  array,
  boolean,
  integer,
  kubernetesObject,
  object,
  required,
  type Static,
  string,
  stringEnum,
} from '../schema.ts';
import { AGE_COLUMN, type API_VERSION, type KindDefinition } from './group-version.ts';

export const DATASTORE_DRIVERS = ['etcd', 'MySQL', 'PostgreSQL', 'NATS'] as const;
export type DataStoreDriver = (typeof DATASTORE_DRIVERS)[number];

/** A value given inline or read from a Secret; the inline content wins when both are set. */
export const ContentRefSchema = object({
  content: string({ format: 'byte', description: 'The value itself, base64 encoded; takes precedence.' }),
  secretReference: object(
    {
      name: string({ description: 'Name of the Secret.' }),
      namespace: string({ description: 'Namespace of the Secret.' }),
      keyPath: required(string({ minLength: 1, description: 'Key of the Secret holding the value.' })),
    },
    { mapType: 'atomic', description: 'A key of a Secret holding the value.' },
  ),
});
export type ContentRef = Static<typeof ContentRefSchema>;

/** CEL: the ContentRef at `path` says where its value is. */
function isSet(path: string): string {
  return `(has(${path}.secretReference) || has(${path}.content))`;
}

export const DataStoreSpecSchema = object(
  {
    driver: required(
      stringEnum(DATASTORE_DRIVERS, {
        description: 'The kind of datastore: etcd, MySQL, PostgreSQL or NATS. Cannot be changed.',
        validations: [{ rule: 'self == oldSelf', message: 'Datastore driver is immutable' }],
      }),
    ),
    endpoints: required(
      array(string(), {
        minItems: 1,
        description: 'Where the datastore listens, as host:port without a scheme.',
      }),
    ),
    basicAuth: object(
      { username: required(ContentRefSchema), password: required(ContentRefSchema) },
      { description: 'User name and password, for datastores with password authentication.' },
    ),
    tlsConfig: object(
      {
        certificateAuthority: required(
          object(
            { certificate: required(ContentRefSchema), privateKey: ContentRefSchema },
            {
              description:
                "The datastore's CA. With etcd its private key is needed too: Kamaji signs each tenant's client certificate with it.",
            },
          ),
        ),
        clientCertificate: object(
          { certificate: required(ContentRefSchema), privateKey: required(ContentRefSchema) },
          { description: 'The certificate and key Kamaji presents to the datastore.' },
        ),
      },
      { description: 'How to reach the datastore over TLS.' },
    ),
  },
  {
    description: 'A datastore that holds the state of tenant control planes.',
    validations: [
      {
        rule: `self.driver != 'etcd' || (has(self.tlsConfig) && has(self.tlsConfig.certificateAuthority.privateKey) && ${isSet('self.tlsConfig.certificateAuthority.privateKey')})`,
        message: 'certificateAuthority privateKey must have secretReference or content when driver is etcd',
        fieldPath: '.tlsConfig.certificateAuthority.privateKey',
        reason: 'FieldValueRequired',
      },
      {
        rule: `self.driver != 'etcd' || (has(self.tlsConfig) && has(self.tlsConfig.clientCertificate) && ${isSet('self.tlsConfig.clientCertificate.certificate')})`,
        message: 'clientCertificate must have secretReference or content when driver is etcd',
        fieldPath: '.tlsConfig.clientCertificate.certificate',
        reason: 'FieldValueRequired',
      },
      {
        rule: `self.driver != 'etcd' || (has(self.tlsConfig) && has(self.tlsConfig.clientCertificate) && ${isSet('self.tlsConfig.clientCertificate.privateKey')})`,
        message: 'clientCertificate privateKey must have secretReference or content when driver is etcd',
        fieldPath: '.tlsConfig.clientCertificate.privateKey',
        reason: 'FieldValueRequired',
      },
      {
        rule: `(self.driver != "etcd" && has(self.tlsConfig) && has(self.tlsConfig.clientCertificate)) ? ((${isSet('self.tlsConfig.clientCertificate.certificate')})) : true`,
        message:
          'When driver is not etcd and tlsConfig exists, clientCertificate must be null or contain valid content',
        fieldPath: '.tlsConfig.clientCertificate.certificate',
        reason: 'FieldValueRequired',
      },
      {
        rule: `(self.driver != "etcd" && has(self.basicAuth)) ? (${isSet('self.basicAuth.username')}) : true`,
        message: 'When driver is not etcd and basicAuth exists, username must have secretReference or content',
        fieldPath: '.basicAuth.username',
        reason: 'FieldValueRequired',
      },
      {
        rule: `(self.driver != "etcd" && has(self.basicAuth)) ? (${isSet('self.basicAuth.password')}) : true`,
        message: 'When driver is not etcd and basicAuth exists, password must have secretReference or content',
        fieldPath: '.basicAuth.password',
        reason: 'FieldValueRequired',
      },
      {
        rule: '(self.driver != "etcd") ? (has(self.tlsConfig) || has(self.basicAuth)) : true',
        message: 'When driver is not etcd, either tlsConfig or basicAuth must be provided',
        reason: 'FieldValueRequired',
      },
    ],
  },
);
export type DataStoreSpec = Static<typeof DataStoreSpecSchema>;

export const DataStoreStatusSchema = object(
  {
    ready: required(boolean({ description: 'Whether the DataStore was checked and can be used.' })),
    usedBy: array(string(), { description: 'The TenantControlPlanes (namespace/name) stored in this DataStore.' }),
    conditions: array(kubernetesObject('io.k8s.apimachinery.pkg.apis.meta.v1.Condition'), {
      description: 'Results of the checks on this DataStore.',
    }),
    observedGeneration: integer({ format: 'int64', description: 'The metadata.generation last reconciled.' }),
  },
  { description: 'What Kamaji observed about the DataStore.' },
);
export type DataStoreStatus = Static<typeof DataStoreStatusSchema>;

export interface DataStore {
  apiVersion: typeof API_VERSION;
  kind: 'DataStore';
  metadata: V1ObjectMeta;
  spec: DataStoreSpec;
  status?: DataStoreStatus;
}

export const dataStoreKind: KindDefinition = {
  kind: 'DataStore',
  plural: 'datastores',
  singular: 'datastore',
  scope: 'Cluster',
  description: 'A datastore (etcd, MySQL, PostgreSQL or NATS) shared by tenant control planes.',
  spec: DataStoreSpecSchema,
  status: DataStoreStatusSchema,
  printerColumns: [
    { name: 'Driver', type: 'string', jsonPath: '.spec.driver', description: 'Kind of datastore' },
    { name: 'Ready', type: 'boolean', jsonPath: '.status.ready', description: 'Checked and ready for use' },
    AGE_COLUMN,
  ],
};
