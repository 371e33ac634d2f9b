import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { closeServer, listen } from '../controller/health.ts';
import type { Log } from '../controller/log.ts';
import type { AdmissionResponse, AdmissionReview } from './admission.ts';

/** Reviews one AdmissionReview request (its `request` is present). */
export type Reviewer = (review: Required<Pick<AdmissionReview, 'request'>>) => Promise<AdmissionResponse>;

/** The API server sends at most 3 MiB objects; a review holds two of them. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface WebhookServer {
  /** `https://host:port` as bound. */
  readonly url: string;
  /** The serving certificate handshakes use now (PEM), undefined until one was loaded. */
  readonly certificatePem: string | undefined;
  /** Switches to another certificate for new connections; the listening socket stays. */
  useCertificate(certificatePem: string, keyPem: string): void;
  close(): Promise<void>;
}

/**
 * HTTPS for the API server's admission calls: POST of an AdmissionReview on one of `routes`, answered with the
 * reviewer's response. Until a certificate is loaded, handshakes fail, and a reviewer that throws gets an HTTP
 * 500: the API server then applies the failurePolicy. Readiness says so meanwhile.
 */
export async function startWebhookServer(options: {
  address: string;
  routes: Readonly<Record<string, Reviewer>>;
  log: Log;
}): Promise<WebhookServer> {
  let certificatePem: string | undefined;
  const server: Server = createServer({ minVersion: 'TLSv1.2' }, (request, response) => {
    void serve(request, response, options.routes).catch((error: Error) => {
      options.log(`webhook ${request.url}: ${error.message}`, { level: 'error' });
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  server.on('tlsClientError', () => undefined);
  const bound = await listen(server, options.address);
  return {
    url: `https://${bound}`,
    get certificatePem() {
      return certificatePem;
    },
    useCertificate(certificate, key) {
      server.setSecureContext({ cert: certificate, key, minVersion: 'TLSv1.2' });
      certificatePem = certificate;
    },
    close: () => closeServer(server),
  };
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  routes: Readonly<Record<string, Reviewer>>,
): Promise<void> {
  const path = new URL(request.url ?? '/', 'https://webhook').pathname;
  const reviewer = Object.hasOwn(routes, path) ? routes[path] : undefined;
  if (!reviewer) return send(response, 404, { message: `no webhook at ${path}` });
  if (request.method !== 'POST') return send(response, 405, { message: 'POST an AdmissionReview' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return send(response, 413, { message: 'request too large' });
    chunks.push(chunk as Buffer);
  }
  let review: AdmissionReview;
  try {
    review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
  } catch {
    return send(response, 400, { message: 'the body is not JSON' });
  }
  const admission = review.request;
  if (review.kind !== 'AdmissionReview' || !admission?.uid) {
    return send(response, 400, { message: 'expected an admission.k8s.io/v1 AdmissionReview with a request' });
  }
  let answer: AdmissionResponse;
  try {
    answer = await reviewer({ ...review, request: admission });
  } catch (error) {
    // Not a refusal: a webhook that cannot review is a failed call, and the configuration's failurePolicy decides
    // (an answer with allowed: false would be a denial whatever its code).
    return send(response, 500, { message: `the review could not be made: ${(error as Error).message}` });
  }
  send(response, 200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: answer });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
