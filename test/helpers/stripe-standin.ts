import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for the few Stripe API endpoints the payment port calls
 * (providers/stripe/stripe-payments.ts), so the real SDK runs in tests with no network:
 *   GET  /v1/subscriptions/:id        the subscription the test put there
 *   GET  /v1/invoices/:id             the invoice the test put there (`expand[]=payments` accepted)
 *   POST /v1/checkout/sessions        a session with a url on this server; kept for `completeSession`
 * Anything else is a 404 in Stripe's error shape, as is an unknown id. Requests must carry the
 * configured key (401 otherwise), as Stripe's would.
 */

type StripeObject = Record<string, unknown>;

export interface StandinRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: StripeObject;
  readonly idempotencyKey: string | undefined;
}

export interface StripeStandin {
  /** STRIPE_API_BASE for the app: http://127.0.0.1:<port>. */
  readonly base: string;
  readonly apiKey: string;
  readonly requests: StandinRequest[];
  readonly subscriptions: Map<string, StripeObject>;
  readonly invoices: Map<string, StripeObject>;
  readonly sessions: Map<string, StripeObject>;
  /** Marks the session paid, as Stripe does when the customer pays, and returns it with its new PaymentIntent. */
  completeSession(id: string): StripeObject;
  close(): Promise<void>;
}

/** Stripe's form encoding (`a[b][0][c]=1`) back into objects and arrays. */
export function decodeStripeForm(text: string): StripeObject {
  const root: StripeObject = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> = root;
    path.forEach((part, index) => {
      if (index === path.length - 1) {
        node[part] = value;
        return;
      }
      const nextIsIndex = /^\d+$/.test(path[index + 1] ?? '');
      node[part] ??= nextIsIndex ? [] : {};
      node = node[part] as Record<string, unknown>;
    });
  }
  return root;
}

const hex = () => randomBytes(8).toString('hex');

export async function startStripeStandin(options: { apiKey?: string } = {}): Promise<StripeStandin> {
  const apiKey = options.apiKey ?? `sk_test_standin_${hex()}`;
  const requests: StandinRequest[] = [];
  const subscriptions = new Map<string, StripeObject>();
  const invoices = new Map<string, StripeObject>();
  const sessions = new Map<string, StripeObject>();
  let base = '';

  const answer = (response: http.ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${hex()}` });
    response.end(JSON.stringify(body));
  };
  const missing = (response: http.ServerResponse, what: string, id: string) =>
    answer(response, 404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${id}'`, param: 'id' } });

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://standin');
      const body = decodeStripeForm(Buffer.concat(chunks).toString('utf8'));
      const idempotencyKey = request.headers['idempotency-key'];
      requests.push({ method: request.method ?? 'GET', path: url.pathname, query: url.searchParams, body, idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : undefined });
      if (request.headers.authorization !== `Bearer ${apiKey}`) {
        answer(response, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
        return;
      }
      const [, version, resource, id, sub] = url.pathname.split('/');
      if (version !== 'v1') return missing(response, 'path', url.pathname);
      if (request.method === 'GET' && resource === 'subscriptions' && id && !sub) {
        const found = subscriptions.get(id);
        return found ? answer(response, 200, found) : missing(response, 'subscription', id);
      }
      if (request.method === 'GET' && resource === 'invoices' && id && !sub) {
        const found = invoices.get(id);
        return found ? answer(response, 200, found) : missing(response, 'invoice', id);
      }
      if (request.method === 'POST' && resource === 'checkout' && id === 'sessions' && !sub) {
        const sessionId = `cs_test_${hex()}`;
        const lines = (body.line_items as StripeObject[] | undefined) ?? [];
        const amount = lines.reduce((sum, line) => sum + Number((line.price_data as StripeObject).unit_amount) * Number(line.quantity ?? 1), 0);
        const session: StripeObject = {
          id: sessionId,
          object: 'checkout.session',
          mode: body.mode,
          status: 'open',
          payment_status: 'unpaid',
          amount_subtotal: amount,
          amount_total: amount,
          currency: (lines[0]?.price_data as StripeObject | undefined)?.currency ?? null,
          customer: body.customer ?? null,
          customer_email: body.customer_email ?? null,
          customer_details: null,
          client_reference_id: body.client_reference_id ?? null,
          metadata: body.metadata ?? {},
          payment_intent: null,
          subscription: null,
          success_url: body.success_url,
          cancel_url: body.cancel_url,
          expires_at: Math.floor(Date.now() / 1000) + 86_400,
          livemode: false,
          url: `${base}/pay/${sessionId}`,
        };
        sessions.set(sessionId, session);
        return answer(response, 200, session);
      }
      return missing(response, 'path', url.pathname);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    base,
    apiKey,
    requests,
    subscriptions,
    invoices,
    sessions,
    completeSession(id) {
      const session = sessions.get(id);
      if (!session) throw new Error(`no Checkout Session ${id} in the stand-in`);
      const email = typeof session.customer_email === 'string' ? session.customer_email : null;
      const paid = { ...session, status: 'complete', payment_status: 'paid', payment_intent: `pi_${hex()}`, customer_details: { email, name: null, phone: null } };
      sessions.set(id, paid);
      return paid;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A Stripe event wrapping `object`, as Stripe posts it to the webhook route (sign it with stripeTestSignatureHeader). */
export function stripeEvent(type: string, object: StripeObject, options: { id?: string; livemode?: boolean } = {}) {
  return {
    id: options.id ?? `evt_${hex()}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    livemode: options.livemode ?? false,
    pending_webhooks: 1,
    type,
    data: { object },
  };
}
