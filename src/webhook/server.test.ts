import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { discardLog } from '../controller/log.ts';
import type { AdmissionReview } from './admission.ts';
import { issueCertificates, type WebhookCertificates } from './certificates.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';

interface Answer {
  status: number;
  body: unknown;
  /** The serving certificate the handshake presented (PEM). */
  certificate: string;
}

function post(url: string, ca: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const call = request(url, { method: 'POST', ca, agent: false, headers: { 'Content-Type': 'application/json' } });
    call.on('response', (response) => {
      const raw = (response.socket as TLSSocket).getPeerX509Certificate()?.toString() ?? '';
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          certificate: raw,
        }),
      );
    });
    call.on('error', reject);
    call.end(body);
  });
}

const review = (uid: string): AdmissionReview => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid, kind: { group: 'g', version: 'v', kind: 'K' }, operation: 'CREATE' },
});

describe('webhook server', () => {
  let server: WebhookServer;
  let first: WebhookCertificates;
  before(async () => {
    server = await startWebhookServer({
      address: '127.0.0.1:0',
      log: discardLog,
      routes: {
        '/allow': async ({ request }) => ({ uid: request.uid, allowed: true }),
        '/broken': async () => {
          throw new Error('cache gone');
        },
      },
    });
    first = await issueCertificates(undefined, 'ca', ['127.0.0.1'], { keyAlgorithm: 'ECDSA-P256' });
  });
  after(() => server.close());

  test('no handshake before a certificate is loaded', async () => {
    assert.equal(server.certificatePem, undefined);
    await assert.rejects(post(`${server.url}/allow`, first.caBundlePem, JSON.stringify(review('u1'))));
  });

  test('answers an AdmissionReview with the reviewer response, an unknown path with 404', async () => {
    server.useCertificate(first.serving.certificatePem, first.serving.privateKeyPem);
    const answer = await post(`${server.url}/allow`, first.caBundlePem, JSON.stringify(review('u2')));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u2', allowed: true },
    });
    assert.equal((await post(`${server.url}/nothing`, first.caBundlePem, '{}')).status, 404);
  });

  test('a reviewer that fails is a failed call (HTTP 500), so the failurePolicy decides, not a denial', async () => {
    const answer = await post(`${server.url}/broken`, first.caBundlePem, JSON.stringify(review('u3')));
    assert.equal(answer.status, 500);
    assert.equal((answer.body as AdmissionReview).response, undefined);
    assert.match((answer.body as { message: string }).message, /cache gone/);
    assert.equal((await post(`${server.url}/allow`, first.caBundlePem, '{"kind":"Other"}')).status, 400);
  });

  test('a new certificate is served to new connections without restarting', async () => {
    const second = await issueCertificates(first, 'serving', ['127.0.0.1'], { keyAlgorithm: 'ECDSA-P256' });
    server.useCertificate(second.serving.certificatePem, second.serving.privateKeyPem);
    const answer = await post(`${server.url}/allow`, second.caBundlePem, JSON.stringify(review('u4')));
    assert.equal(answer.status, 200);
    assert.equal(
      new X509Certificate(answer.certificate).fingerprint256,
      new X509Certificate(second.serving.certificatePem).fingerprint256,
    );
  });
});
