import type { SqlDriverName } from './sql/resolve.ts';

/** The datastores kine stands in front of, as DataStore `spec.driver` spells them. */
export type KineDriver = SqlDriverName;

/** What kine's storage endpoint is made of: the tenant's own login, the server's `host:port`, its database. */
export interface KineEndpointParts {
  user: string;
  password: string;
  address: string;
  database: string;
}

/**
 * kine's `--endpoint` (or `KINE_ENDPOINT`) for a tenant: its own user on its own database, the server verified
 * against the DataStore's CA (kine's `--ca-file`). The tenant pod passes `$(NAME)` references the kubelet expands
 * from the datastore Secret; the key-space gateway passes the values themselves.
 */
export function kineStorageEndpoint(driver: KineDriver, parts: KineEndpointParts): string {
  const credentials = `${parts.user}:${parts.password}`;
  switch (driver) {
    case 'PostgreSQL':
      return `postgres://${credentials}@${parts.address}/${parts.database}?sslmode=verify-full`;
    case 'MySQL':
      return `mysql://${credentials}@tcp(${parts.address})/${parts.database}`;
  }
}
