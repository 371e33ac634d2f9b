/** A Secret's data as text: the API carries each value base64-encoded. */
export function decodeSecretData(secret: { data?: Record<string, string> }): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}
