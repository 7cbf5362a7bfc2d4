import type { Logger } from 'pino';
import { z } from 'zod';
import {
  DnsNotFoundError,
  DnsRejectedError,
  DnsUnexpectedResponseError,
  DnsUnreachableError,
  type CreatedZone,
  type DnsPort,
  type DnsRRset,
  type DnsZone,
  type DnsZoneSummary,
  type NewZone,
  type RRsetChange,
} from '../dns.port.js';

/**
 * The PowerDNS Authoritative HTTP API (v1), behind the DnsPort. Verified behaviour
 * (see infra-recipe.md): 401/404/409/500 answer plain text and only 422 answers JSON; a zone
 * create can answer 500 when another create of the same zone races it, so a 500 there is
 * followed by a GET to decide; PATCH REPLACE is idempotent. The API key travels in a header and
 * is never logged or put in an error message.
 */

export interface PowerDnsClientOptions {
  /** e.g. http://127.0.0.1:8081/api/v1 */
  readonly apiUrl: string;
  readonly apiKey: string;
  /** Almost always `localhost`. */
  readonly serverId: string;
  /** Per HTTP request (connect + response body). */
  readonly timeoutMs: number;
  /** Extra attempts after a connection error, a timeout or a 5xx. */
  readonly retries: number;
  /** First retry delay; doubled on each further retry. */
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}

const recordSchema = z.object({ content: z.string(), disabled: z.boolean() });
const rrsetSchema = z.object({ name: z.string(), type: z.string(), ttl: z.number().int().nonnegative(), records: z.array(recordSchema) });
const zoneSummarySchema = z.object({ name: z.string(), kind: z.string(), serial: z.number().int().nonnegative(), account: z.string().default('') });
const zoneSchema = zoneSummarySchema.extend({ rrsets: z.array(rrsetSchema) });
const errorBodySchema = z.object({ error: z.string() });

interface RawResponse {
  status: number;
  text: string;
}

/** Our names never carry the trailing dot; the API's always do. */
function toApiName(name: string): string {
  if (name.endsWith('.') || name !== name.toLowerCase() || name.length === 0) {
    throw new Error(`DNS names passed to the provider must be lower-case without a trailing dot, got "${name}"`);
  }
  return `${name}.`;
}

function fromApiName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

function summaryOf(zone: z.output<typeof zoneSummarySchema>): DnsZoneSummary {
  return { name: fromApiName(zone.name), kind: zone.kind, serial: zone.serial, account: zone.account };
}

function zoneOf(zone: z.output<typeof zoneSchema>): DnsZone {
  return {
    ...summaryOf(zone),
    rrsets: zone.rrsets.map((rrset) => ({ name: fromApiName(rrset.name), type: rrset.type, ttl: rrset.ttl, records: rrset.records })),
  };
}

function apiRRset(rrset: DnsRRset) {
  return {
    name: toApiName(rrset.name),
    type: rrset.type,
    ttl: rrset.ttl,
    records: rrset.records.map((record) => ({ content: record.content, disabled: record.disabled })),
  };
}

/** What went wrong in a fetch that got no HTTP response. */
function failureOf(error: unknown): { reason: 'timeout' | 'connection'; detail: string } {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return { reason: 'timeout', detail: 'timed out' };
  const cause = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return { reason: 'connection', detail: code ?? message };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class PowerDnsClient implements DnsPort {
  readonly #apiKey: string;
  readonly #base: string;
  readonly #options: PowerDnsClientOptions;

  constructor(options: PowerDnsClientOptions) {
    this.#options = { ...options, apiKey: '' };
    this.#apiKey = options.apiKey;
    this.#base = `${options.apiUrl.replace(/\/+$/, '')}/servers/${encodeURIComponent(options.serverId)}`;
  }

  /** For logs and error messages: the API's base URL, never the key. */
  get endpoint(): string {
    return this.#base;
  }

  async getZone(name: string): Promise<DnsZone> {
    const response = await this.request('GET', `/zones/${encodeURIComponent(toApiName(name))}`);
    if (response.status === 200) return zoneOf(this.parse(response, zoneSchema, 'zone'));
    if (response.status === 404) throw new DnsNotFoundError(name);
    throw this.unexpected('GET zone', response);
  }

  async findZone(name: string): Promise<DnsZone | null> {
    try {
      return await this.getZone(name);
    } catch (error) {
      if (error instanceof DnsNotFoundError) return null;
      throw error;
    }
  }

  async listZones(filter: { name?: string } = {}): Promise<DnsZoneSummary[]> {
    const query = filter.name === undefined ? '' : `?zone=${encodeURIComponent(toApiName(filter.name))}`;
    const response = await this.request('GET', `/zones${query}`);
    if (response.status !== 200) throw this.unexpected('GET zones', response);
    return this.parse(response, z.array(zoneSummarySchema), 'zone list').map(summaryOf);
  }

  async createZone(zone: NewZone): Promise<CreatedZone> {
    if (zone.nameservers.length === 0) throw new Error('a zone needs at least one name server');
    const { soa } = zone;
    const body = {
      name: toApiName(zone.name),
      kind: 'Native',
      account: zone.account,
      // NS as an RRset rather than the `nameservers` list, which cannot carry a TTL (PowerDNS
      // refuses both at once).
      rrsets: [
        {
          name: toApiName(zone.name),
          type: 'SOA',
          ttl: soa.ttl,
          // Serial 0: PowerDNS sets and raises it itself (soa_edit_api DEFAULT → YYYYMMDDnn).
          records: [{ content: `${toApiName(soa.primary)} ${toApiName(soa.hostmaster)} 0 ${soa.refresh} ${soa.retry} ${soa.expire} ${soa.minimum}`, disabled: false }],
        },
        { name: toApiName(zone.name), type: 'NS', ttl: soa.ttl, records: zone.nameservers.map((host) => ({ content: toApiName(host), disabled: false })) },
        ...(zone.rrsets ?? []).filter((rrset) => !(rrset.name === zone.name && (rrset.type === 'SOA' || rrset.type === 'NS'))).map(apiRRset),
      ],
    };
    for (let attempt = 0; ; attempt++) {
      const response = await this.request('POST', '/zones', body, { retryServerErrors: false });
      if (response.status === 201) return { created: true, zone: zoneOf(this.parse(response, zoneSchema, 'created zone')) };
      if (response.status === 409) return { created: false, zone: await this.getZone(zone.name) };
      if (response.status >= 500) {
        // Concurrent creates of one zone answer 500 (a UNIQUE failure in the backend): the zone may exist now.
        const existing = await this.findZone(zone.name);
        if (existing) return { created: false, zone: existing };
        if (attempt < this.#options.retries) {
          await this.backoff('POST', '/zones', attempt, `HTTP ${response.status}`);
          continue;
        }
        throw new DnsUnreachableError(`PowerDNS failed to create zone ${zone.name}: HTTP ${response.status} ${response.text.slice(0, 200)}`.trim(), 'server-error');
      }
      throw this.unexpected('POST zone', response);
    }
  }

  async patchRRsets(zone: string, changes: readonly RRsetChange[]): Promise<void> {
    if (changes.length === 0) return;
    const rrsets = changes.map((change) =>
      change.kind === 'delete'
        ? { name: toApiName(change.name), type: change.type, changetype: 'DELETE' }
        : {
            name: toApiName(change.name),
            type: change.type,
            ttl: change.ttl,
            changetype: 'REPLACE',
            records: change.contents.map((content) => ({ content, disabled: false })),
          },
    );
    const response = await this.request('PATCH', `/zones/${encodeURIComponent(toApiName(zone))}`, { rrsets });
    if (response.status === 204 || response.status === 200) return;
    if (response.status === 404) throw new DnsNotFoundError(zone);
    throw this.unexpected('PATCH rrsets', response);
  }

  async deleteZone(name: string): Promise<boolean> {
    const response = await this.request('DELETE', `/zones/${encodeURIComponent(toApiName(name))}`);
    if (response.status === 204 || response.status === 200) return true;
    if (response.status === 404) return false;
    throw this.unexpected('DELETE zone', response);
  }

  /**
   * One API call with retries on connection errors, timeouts and (unless told otherwise) 5xx.
   * 401/403 and exhausted retries become DnsUnreachableError; 400/422 DnsRejectedError; any other
   * status is returned for the caller to interpret.
   */
  private async request(method: string, path: string, body?: unknown, options: { retryServerErrors: boolean } = { retryServerErrors: true }): Promise<RawResponse> {
    const url = `${this.#base}${path}`;
    for (let attempt = 0; ; attempt++) {
      let response: RawResponse;
      try {
        const res = await fetch(url, {
          method,
          headers: { 'X-API-Key': this.#apiKey, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? null : JSON.stringify(body),
          signal: AbortSignal.timeout(this.#options.timeoutMs),
        });
        response = { status: res.status, text: await res.text() };
      } catch (error) {
        const failure = failureOf(error);
        if (attempt < this.#options.retries) {
          await this.backoff(method, path, attempt, failure.detail);
          continue;
        }
        throw new DnsUnreachableError(`PowerDNS at ${this.#base} is unreachable (${method} ${path}: ${failure.detail})`, failure.reason, { cause: error });
      }
      if (response.status >= 500 && options.retryServerErrors) {
        if (attempt < this.#options.retries) {
          await this.backoff(method, path, attempt, `HTTP ${response.status}`);
          continue;
        }
        throw new DnsUnreachableError(`PowerDNS failed (${method} ${path}): HTTP ${response.status} ${response.text.slice(0, 200)}`.trim(), 'server-error');
      }
      if (response.status === 401 || response.status === 403) {
        throw new DnsUnreachableError(`PowerDNS refused the API key (HTTP ${response.status}): check POWERDNS_API_KEY`, 'unauthorized');
      }
      if (response.status === 422 || response.status === 400) throw new DnsRejectedError(this.errorMessage(response));
      return response;
    }
  }

  private async backoff(method: string, path: string, attempt: number, detail: string): Promise<void> {
    const delay = (this.#options.retryDelayMs ?? 50) * 2 ** attempt;
    this.#options.logger?.warn({ method, path, attempt: attempt + 1, detail, delayMs: delay }, `PowerDNS ${method} ${path} failed (${detail}); retrying`);
    await sleep(delay);
  }

  /** PowerDNS's own explanation: `{"error": "..."}` on 422, plain text otherwise. */
  private errorMessage(response: RawResponse): string {
    try {
      const parsed = errorBodySchema.safeParse(JSON.parse(response.text));
      if (parsed.success) return parsed.data.error;
    } catch {
      // not JSON: fall through to the text itself
    }
    return response.text.trim().slice(0, 500) || `HTTP ${response.status}`;
  }

  private parse<T extends z.ZodType>(response: RawResponse, schema: T, what: string): z.output<T> {
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch {
      throw new DnsUnexpectedResponseError(`PowerDNS answered a ${what} that is not JSON (HTTP ${response.status})`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new DnsUnexpectedResponseError(`PowerDNS answered an unexpected ${what}: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }

  private unexpected(call: string, response: RawResponse): DnsUnexpectedResponseError {
    return new DnsUnexpectedResponseError(`PowerDNS ${call}: unexpected HTTP ${response.status} ${response.text.slice(0, 200)}`.trim());
  }
}
