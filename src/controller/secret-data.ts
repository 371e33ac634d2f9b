import type { V1Secret } from '@kubernetes/client-node';
import { type ApiCaller, readObject } from './apply.ts';
import { builtinResources } from './kube-client.ts';

/** A Secret's data as text: the API carries each value base64-encoded. */
export function decodeSecretData(secret: { data?: Record<string, string> }): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}

/** A Secret's data as text, or undefined when it does not exist. */
export async function readSecretData(
  client: ApiCaller,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const secret = await readObject<V1Secret>(client, builtinResources.secret, { namespace, name });
  return secret && decodeSecretData(secret);
}
