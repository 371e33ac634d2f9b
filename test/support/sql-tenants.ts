import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import type {
  DatastoreDriver,
  IdentityField,
  OwnershipRefusal,
  TenantOwner,
  TenantStorage,
} from '../../src/datastore/driver.ts';
import { isAlive } from '../../src/process/supervisor.ts';

/** What the SQL driver suites (PostgreSQL, MySQL) share: their tenants, the attacker, and the checks on both. */
export interface Tenant {
  storage: TenantStorage & { password: string };
  owner: TenantOwner;
}

export const tenant = (name: string, uid: string, schema = `${name}_db`): Tenant => ({
  storage: { schema, username: name, password: `${name}-Password-1` },
  owner: { uid, namespace: `ns-${name}`, name },
});

/** A TCP that claims what is not its own. */
export const MALLORY: TenantOwner = { uid: 'uid-mallory', namespace: 'ns-mallory', name: 'mallory' };

/** Names that would break out of their quotes if they were not escaped. */
export const HOSTILE_NAMES: Tenant = {
  storage: { schema: 'h"`; DROP DATABASE alice_db; --', username: "h' OR '1'='1", password: 'Hostile-1' },
  owner: { uid: 'uid-hostile', namespace: 'ns-h', name: 'h' },
};

/** Runs `attempt` and returns the code it was refused with; fails the test when it was not refused. */
export async function refusedWith(attempt: () => Promise<unknown>): Promise<string> {
  try {
    await attempt();
  } catch (error) {
    return String((error as { code?: string }).code);
  }
  assert.fail('expected a refusal');
}

/** One of Mallory's claims and the refusal it must get. */
export type HostileClaim = [schema: string, username: string, reason: OwnershipRefusal['reason'], field: IdentityField];

/** Makes every claim as Mallory and checks each refusal's reason and field; returns the refusals. */
export async function assertClaimsRefused(
  driver: DatastoreDriver,
  claims: readonly HostileClaim[],
): Promise<(OwnershipRefusal | undefined)[]> {
  const refusals: (OwnershipRefusal | undefined)[] = [];
  for (const [schema, username, reason, field] of claims) {
    const refusal = await driver.ensureTenant({ schema, username, password: 'Mallory-1' }, MALLORY);
    assert.equal(refusal?.reason, reason, `${schema}/${username}: ${JSON.stringify(refusal)}`);
    assert.equal(refusal?.field, field, `${schema}/${username}: ${JSON.stringify(refusal)}`);
    refusals.push(refusal);
  }
  assert.equal(refusals.length, claims.length);
  return refusals;
}

/** What `after` holds that `before` did not. */
export function added(before: readonly string[], after: readonly string[]): string[] {
  return after.filter((entry) => !before.includes(entry));
}

/** The server left nothing behind: none of its processes, not its directory. */
export async function assertServerGone(pids: readonly number[], dir: string): Promise<void> {
  assert.deepEqual(pids.filter(isAlive), []);
  await assert.rejects(access(dir), { code: 'ENOENT' });
}

/**
 * The claims every SQL server must refuse, given alice and bob as tenants: alice's database, bob's user, the
 * DataStore's own user, the owners database, and a database and user made by hand (`handmade_db`, `handmadeUser`).
 */
export function sharedHostileClaims(administrator: string, handmadeUser: string): HostileClaim[] {
  return [
    ['alice_db', 'mallory', 'OwnedByAnotherTenant', 'spec.dataStoreSchema'],
    ['mallory_db', 'bob', 'OwnedByAnotherTenant', 'spec.dataStoreUsername'],
    ['mallory_db', administrator, 'ReservedName', 'spec.dataStoreUsername'],
    ['kamaji', 'mallory', 'ReservedName', 'spec.dataStoreSchema'],
    ['handmade_db', 'mallory', 'ExistsOutsideKamaji', 'spec.dataStoreSchema'],
    ['mallory_db', handmadeUser, 'ExistsOutsideKamaji', 'spec.dataStoreUsername'],
  ];
}

/**
 * A DataStore whose administrator authenticates by client certificate (CN `certificateUser`): that user is
 * reserved, and a tenant made through it works (`connect` opens the tenant's own database as the tenant).
 */
export async function assertCertificateAdministratorWorks(
  byCertificate: DatastoreDriver,
  certificateUser: string,
  connect: (who: Tenant) => Promise<unknown>,
): Promise<void> {
  try {
    await byCertificate.check();
    const dave = tenant('dave', 'uid-dave');
    const claim = await byCertificate.ensureTenant({ ...dave.storage, username: certificateUser }, dave.owner);
    assert.equal(claim?.reason, 'ReservedName');
    assert.equal(await byCertificate.ensureTenant(dave.storage, dave.owner), undefined);
    await connect(dave);
    assert.deepEqual(await byCertificate.deleteTenant(dave.storage, dave.owner), { deletedKeys: 0, notOwned: [] });
  } finally {
    byCertificate.close();
  }
}

/** `check()` on a port where nothing listens names the product and the endpoint, and why. */
export async function assertUnreachableNamed(
  driverAt: (endpoint: string) => DatastoreDriver,
  product: string,
  freeLoopbackPort: number,
): Promise<void> {
  const nowhere = driverAt(`127.0.0.1:${freeLoopbackPort}`);
  try {
    const expected = new RegExp(`${product} at 127\\.0\\.0\\.1:${freeLoopbackPort} is unreachable: .*ECONNREFUSED`);
    await assert.rejects(nowhere.check(), expected);
  } finally {
    nowhere.close();
  }
}

/**
 * Two operators (two drivers, two pools) claim the same free names for two TCPs at once, several times: each time
 * exactly one wins, the other is refused naming the winner, and the winner's tenant is deleted again.
 */
export async function assertOneClaimWins(first: DatastoreDriver, second: DatastoreDriver, rounds = 5): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    const storage = { schema: `race${round}_db`, username: `race${round}`, password: 'Race-1' };
    const owners = [1, 2].map((side) => ({
      uid: `uid-race-${round}-${side}`,
      namespace: 'ns-race',
      name: `race${side}`,
    }));
    const [a, b] = owners as [TenantOwner, TenantOwner];
    const outcomes = await Promise.all([first.ensureTenant(storage, a), second.ensureTenant(storage, b)]);
    const winners = outcomes.filter((outcome) => outcome === undefined).length;
    assert.equal(winners, 1, JSON.stringify(outcomes));
    const loser = outcomes.find((outcome) => outcome !== undefined);
    assert.equal(loser?.reason, 'OwnedByAnotherTenant');
    const winner = outcomes[0] === undefined ? a : b;
    assert.deepEqual(await first.deleteTenant(storage, winner), { deletedKeys: 0, notOwned: [] });
  }
}

/**
 * A claim whose user and database are gone (a crash right after the records were committed, or someone dropped
 * them): the owner's next pass makes them again, and the records still keep everyone else out.
 */
export async function assertClaimCompletes(
  driver: DatastoreDriver,
  dropByHand: (who: Tenant) => Promise<void>,
  connect: (who: Tenant) => Promise<unknown>,
): Promise<void> {
  const frank = tenant('frank', 'uid-frank');
  assert.equal(await driver.ensureTenant(frank.storage, frank.owner), undefined);
  await dropByHand(frank);
  const refusal = await driver.ensureTenant({ ...frank.storage, password: 'Mallory-1' }, MALLORY);
  assert.equal(refusal?.reason, 'OwnedByAnotherTenant');
  assert.equal(await driver.ensureTenant(frank.storage, frank.owner), undefined);
  await connect(frank);
  assert.deepEqual(await driver.deleteTenant(frank.storage, frank.owner), { deletedKeys: 0, notOwned: [] });
}
