import { request } from 'node:https';

export interface ClientTls {
  caCertificatePem: string;
  clientCertificatePem?: string;
  clientKeyPem?: string;
}

export interface HttpsResponse {
  status: number;
  body: string;
}

/** A GET over TLS that trusts only the given CA, optionally with a client certificate. */
export function httpsGet(url: string, tls: ClientTls, timeoutMs = 5_000): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: tls.caCertificatePem,
        cert: tls.clientCertificatePem,
        key: tls.clientKeyPem,
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
