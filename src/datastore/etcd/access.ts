import { type Etcd3, Range } from 'etcd3';

/**
 * The key range a tenant may use: everything under `/<schema>/`. The trailing slash is what keeps tenant `a` out
 * of tenant `ab`'s keys.
 */
export function tenantKeyPrefix(schema: string): string {
  return `/${schema}/`;
}

/** etcd's range end for a prefix: the prefix with its last byte incremented. */
export function prefixRangeEnd(prefix: string): Buffer {
  return Range.prefix(prefix).end;
}

function isAlreadyThere(error: unknown): boolean {
  return /already exists/i.test((error as Error).message);
}

function isNotFound(error: unknown): boolean {
  return /not found/i.test((error as Error).message);
}

/**
 * Creates (if missing) a certificate-only user and a role of the same name with read/write on exactly `prefix`,
 * and grants the role to the user. Safe to run again.
 */
export async function grantPrefixAccess(client: Etcd3, user: string, prefix: string): Promise<void> {
  await client.auth.userAdd({ name: user, options: { no_password: true } }).catch((error: unknown) => {
    if (!isAlreadyThere(error)) throw error;
  });
  await client.auth.roleAdd({ name: user }).catch((error: unknown) => {
    if (!isAlreadyThere(error)) throw error;
  });
  await client.role(user).grant({ permission: 'Readwrite', range: Range.prefix(prefix) });
  await client.auth.userGrantRole({ user, role: user });
}

/** Removes the user and its role; missing ones are fine. */
export async function revokeAccess(client: Etcd3, user: string): Promise<void> {
  await client.auth.roleDelete({ role: user }).catch((error: unknown) => {
    if (!isNotFound(error)) throw error;
  });
  await client.auth.userDelete({ name: user }).catch((error: unknown) => {
    if (!isNotFound(error)) throw error;
  });
}

/** Deletes every key under `prefix` and returns how many there were. */
export async function deletePrefix(client: Etcd3, prefix: string): Promise<number> {
  const result = await client.delete().prefix(prefix).exec();
  return Number(result.deleted);
}

/**
 * Turns on etcd authentication with a certificate-only `root` user (its client certificate has CN=root).
 * Safe to run again.
 */
export async function enableAuthentication(client: Etcd3): Promise<void> {
  const status = await client.auth.authStatus();
  if (status.enabled) return;
  await client.auth.userAdd({ name: 'root', options: { no_password: true } }).catch((error: unknown) => {
    if (!isAlreadyThere(error)) throw error;
  });
  await client.auth.userGrantRole({ user: 'root', role: 'root' });
  await client.auth.authEnable();
}
