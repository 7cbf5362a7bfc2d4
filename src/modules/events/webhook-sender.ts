import { createHmac, randomBytes } from 'node:crypto';
import { lookup as systemLookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { pinnedLookup, refusalOf, type AddressPolicy } from '../../shared/net/address-guard.js';

/**
 * Outgoing webhooks on the wire: the Standard Webhooks signature (https://www.standardwebhooks.com),
 * the URL and address checks (the SSRF guard of shared/net/address-guard.ts) and one POST to an
 * address that was checked, without following redirects, with a deadline and a cap on what is read.
 */

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** At most this much of an answer is read; the rest is dropped with the connection. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** What the delivery log keeps of an answer's body. */
export const RESPONSE_EXCERPT_CHARS = 1_000;

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes (the key the HMAC uses). */
export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the key being the secret's base64 part. */
export function signWebhook(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) throw new Error('a webhook secret starts with whsec_');
  const key = Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** A URL, or what makes it unacceptable as a webhook endpoint, before any DNS lookup. */
export function checkWebhookUrl(value: string, policy: AddressPolicy): { url: URL; problem: null } | { url: null; problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { url: null, problem: 'must be an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { url: null, problem: 'must be an https:// URL' };
  if (url.protocol === 'http:' && !policy.allowLoopback) return { url: null, problem: 'must be an https:// URL (http:// is accepted only for loopback in development and tests)' };
  if (url.username || url.password) return { url: null, problem: 'must not carry a user name or password' };
  if (url.hash) return { url: null, problem: 'must not have a #fragment' };
  const host = hostOf(url);
  if (net.isIP(host) !== 0) {
    const refusal = refusalOf(host, policy);
    if (refusal) return { url: null, problem: `is not a public address: ${refusal}` };
    if (url.protocol === 'http:' && refusalOf(host, { allowLoopback: false }) === null) return { url: null, problem: 'must be an https:// URL (http:// is accepted only for loopback)' };
  }
  return { url, problem: null };
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Looks a host name up: its A and AAAA addresses (none: an empty list). */
export type HostResolver = (name: string) => Promise<string[]>;

/** Through one DNS server (address:port), or the system's resolver when none is named. */
export function createHostResolver(server: string | undefined, timeoutMs = 2_000): HostResolver {
  if (server === undefined) {
    return async (name) => {
      try {
        return (await systemLookup(name, { all: true, verbatim: true })).map((entry) => entry.address);
      } catch {
        return [];
      }
    };
  }
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers([server]);
  const query = async (answer: Promise<string[]>) => {
    try {
      return await answer;
    } catch {
      return [];
    }
  };
  return async (name) => {
    const [v4, v6] = await Promise.all([query(resolver.resolve4(name)), query(resolver.resolve6(name))]);
    return [...v4, ...v6];
  };
}

export class WebhookTargetRefused extends Error {
  override name = 'WebhookTargetRefused';
}

/**
 * The address to connect to for `url`: every address the name resolves to must be acceptable
 * (a name with one private address among public ones is refused: which one a client picks is
 * not ours to guess). http:// is only for loopback, and only when the policy allows loopback.
 */
export async function resolveWebhookTarget(value: string, policy: AddressPolicy, resolve: HostResolver): Promise<{ url: URL; address: string }> {
  const checked = checkWebhookUrl(value, policy);
  if (checked.problem !== null) throw new WebhookTargetRefused(`the URL ${checked.problem}`);
  const { url } = checked;
  const host = hostOf(url);
  let addresses: string[];
  if (net.isIP(host) !== 0) addresses = [host];
  else if (host === 'localhost' || host.endsWith('.localhost')) addresses = ['127.0.0.1'];
  else addresses = await resolve(host);
  if (addresses.length === 0) throw new WebhookTargetRefused(`${host} does not resolve to any address`);
  for (const address of addresses) {
    const refusal = refusalOf(address, policy);
    if (refusal) throw new WebhookTargetRefused(`${host} resolves to ${address}: ${refusal}, not a public one`);
    if (url.protocol === 'http:' && refusalOf(address, { allowLoopback: false }) === null) {
      throw new WebhookTargetRefused(`${host} resolves to the public address ${address}: use https://`);
    }
  }
  const address = addresses.find((candidate) => net.isIP(candidate) === 4) ?? addresses[0] ?? '';
  return { url, address };
}

export interface WebhookAnswer {
  readonly status: number;
  /** The first RESPONSE_EXCERPT_CHARS characters of the body (at most MAX_RESPONSE_BYTES read). */
  readonly excerpt: string;
}

/** At most this many targets keep idle connections; the least recently used one is closed past it. */
const MAX_AGENTS = 256;
/** Connections open at once to one target (a worker sends at most EVENT_DELIVERY_CONCURRENCY at a time anyway). */
const MAX_SOCKETS_PER_TARGET = 32;
/** An idle kept-alive connection is closed after this (below the 5 s idle timeout of Node's and most servers). */
const IDLE_SOCKET_MS = 4_000;

/**
 * Kept-alive connections, one agent per target: the URL's origin AND the address that was checked
 * for it. A connection is only ever opened through `pinnedLookup` to a checked address, and only
 * reused for a delivery whose own check gave that same address: a name that now resolves elsewhere
 * gets another agent (or is refused before anything is sent), so keep-alive never bypasses the guard.
 */
export class WebhookAgents {
  private readonly agents = new Map<string, http.Agent>();

  agentFor(url: URL, address: string): http.Agent {
    const key = `${url.protocol}//${url.host}|${address}`;
    const found = this.agents.get(key);
    if (found) {
      // Most recently used last: the first entry is the one to close when there are too many.
      this.agents.delete(key);
      this.agents.set(key, found);
      return found;
    }
    const options = { keepAlive: true, maxSockets: MAX_SOCKETS_PER_TARGET, maxFreeSockets: MAX_SOCKETS_PER_TARGET, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const };
    const agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    this.agents.set(key, agent);
    if (this.agents.size > MAX_AGENTS) {
      const [oldest] = this.agents;
      if (oldest) {
        this.agents.delete(oldest[0]);
        oldest[1].destroy();
      }
    }
    return agent;
  }

  /** Closes every connection (the worker's shutdown). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/**
 * POSTs `body` to `url` on `address` only: new connections go through the pinned lookup; with
 * `agents`, the connection is kept alive for the next delivery to the same checked address (a
 * kept connection the server closed meanwhile is retried once on a new one). Redirects are answers
 * like any other (not followed); the whole exchange has `timeoutMs`.
 */
export async function postWebhook(url: URL, address: string, headers: Record<string, string>, body: string, timeoutMs: number, agents?: WebhookAgents): Promise<WebhookAnswer> {
  const agent = agents?.agentFor(url, address);
  try {
    return await postOnce(url, address, headers, body, timeoutMs, agent);
  } catch (error) {
    if (!(error instanceof StaleConnection)) throw error;
    return postOnce(url, address, headers, body, timeoutMs, agent);
  }
}

/** A kept-alive connection that the server had closed: nothing was answered, the request is sent again. */
class StaleConnection extends Error {
  override name = 'StaleConnection';
}

function postOnce(url: URL, address: string, headers: Record<string, string>, body: string, timeoutMs: number, agent: http.Agent | undefined): Promise<WebhookAnswer> {
  return new Promise((resolve, reject) => {
    const host = hostOf(url);
    const options: https.RequestOptions = {
      protocol: url.protocol,
      host,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      agent: agent ?? false,
      lookup: pinnedLookup(address),
      headers: { ...headers, host: url.host, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'mPanel-Webhooks/1' },
    };
    let settled = false;
    let answered = false;
    /** `keep`: the answer was read to its end, so the connection may serve the next request. */
    const finish = (error: Error | null, answer?: WebhookAnswer, keep = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (!keep || !agent) request.destroy();
      if (error) reject(!answered && request.reusedSocket && isReset(error) ? new StaleConnection(error.message) : error);
      else if (answer) resolve(answer);
    };
    const onResponse = (response: http.IncomingMessage) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = () => ({ status: response.statusCode ?? 0, excerpt: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8').slice(0, RESPONSE_EXCERPT_CHARS) });
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // The rest is not read: the connection goes with it.
        if (size >= MAX_RESPONSE_BYTES) finish(null, answer());
      });
      response.on('end', () => finish(null, answer(), true));
      response.on('error', (error) => finish(error));
    };
    const request =
      url.protocol === 'https:'
        ? https.request({ ...options, rejectUnauthorized: true, ...(net.isIP(host) === 0 ? { servername: host } : {}) }, onResponse)
        : http.request(options, onResponse);
    const deadline = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('error', (error) => finish(error));
    request.end(body);
  });
}

function isReset(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED';
}
