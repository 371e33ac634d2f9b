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

/** A user's roles, or undefined when the user does not exist. */
export async function userRoles(client: Etcd3, user: string): Promise<string[] | undefined> {
  return client.auth.userGet({ name: user }).then(
    (response) => response.roles,
    (error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    },
  );
}

export interface KeyPermission {
  permType: string;
  key: string;
  rangeEnd: string;
}

/** A role's key permissions, or undefined when the role does not exist. */
export async function rolePermissions(client: Etcd3, role: string): Promise<KeyPermission[] | undefined> {
  return client.auth.roleGet({ role }).then(
    (response) =>
      response.perm.map((permission) => ({
        permType: String(permission.permType),
        key: permission.key.toString('latin1'),
        rangeEnd: permission.range_end.toString('latin1'),
      })),
    (error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    },
  );
}

/** The one permission a tenant role holds: read/write on exactly its prefix. */
export function prefixPermission(prefix: string): KeyPermission {
  return { permType: 'Readwrite', key: prefix, rangeEnd: prefixRangeEnd(prefix).toString('latin1') };
}

export function samePermission(a: KeyPermission, b: KeyPermission): boolean {
  return a.permType === b.permType && a.key === b.key && a.rangeEnd === b.rangeEnd;
}

/**
 * Creates what is missing of a certificate-only user and a role of the same name holding read/write on exactly
 * `prefix`, given what exists (`roles` of the user, `permissions` of the role; undefined when absent). The caller
 * has made sure that nothing else is granted, so nothing is ever extended.
 */
export async function grantPrefixAccess(
  client: Etcd3,
  user: string,
  prefix: string,
  existing: { roles: string[] | undefined; permissions: KeyPermission[] | undefined },
): Promise<void> {
  if (!existing.roles) {
    await client.auth.userAdd({ name: user, options: { no_password: true } }).catch((error: unknown) => {
      if (!isAlreadyThere(error)) throw error;
    });
  }
  if (!existing.permissions) {
    await client.auth.roleAdd({ name: user }).catch((error: unknown) => {
      if (!isAlreadyThere(error)) throw error;
    });
  }
  if (!existing.permissions?.some((permission) => samePermission(permission, prefixPermission(prefix)))) {
    await client.role(user).grant({ permission: 'Readwrite', range: Range.prefix(prefix) });
  }
  if (!existing.roles?.includes(user)) await client.auth.userGrantRole({ user, role: user });
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
