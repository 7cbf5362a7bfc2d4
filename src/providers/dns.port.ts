/**
 * Authoritative DNS as the rest of mPanel sees it: our own types, never PowerDNS's JSON. The HTTP
 * client in powerdns/powerdns.client.ts is the one place that speaks the PowerDNS API.
 *
 * Names (zones and owners) are lower-case FQDNs WITHOUT the trailing dot, as mPanel stores them;
 * the client adds and removes the dot at the API. Record contents are in DNS presentation format
 * (RFC 1035 zone-file syntax, what `dig` prints): host names inside them are absolute, with the
 * trailing dot (`10 mail.example.com.`), and TXT strings are quoted.
 */

/** One record of an RRset. mPanel never writes disabled records; PowerDNS may hold some. */
export interface DnsRecordContent {
  readonly content: string;
  readonly disabled: boolean;
}

/** All records of one owner name and type, which PowerDNS (like DNS itself) keeps under one TTL. */
export interface DnsRRset {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly records: readonly DnsRecordContent[];
}

export interface DnsZoneSummary {
  readonly name: string;
  readonly kind: string;
  readonly serial: number;
  /** Who the zone belongs to: mPanel writes the owning tenant's id. Empty for zones made elsewhere. */
  readonly account: string;
}

export interface DnsZone extends DnsZoneSummary {
  readonly rrsets: readonly DnsRRset[];
}

/** SOA fields of a new zone; the serial is PowerDNS's to manage (soa_edit_api). */
export interface SoaSettings {
  /** Primary name server (the SOA MNAME). */
  readonly primary: string;
  /** Responsible mailbox in domain form (`hostmaster.example.com`, the SOA RNAME). */
  readonly hostmaster: string;
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  /** Negative-caching TTL. */
  readonly minimum: number;
  /** TTL of the SOA and NS RRsets. */
  readonly ttl: number;
}

export interface NewZone {
  readonly name: string;
  readonly account: string;
  readonly nameservers: readonly string[];
  readonly soa: SoaSettings;
  /**
   * Created in the same request, so the zone never exists without them. The apex SOA and NS come
   * from `soa` and `nameservers` (with `soa.ttl`); apex SOA/NS RRsets given here are ignored.
   */
  readonly rrsets?: readonly DnsRRset[];
}

export type RRsetChange =
  | { readonly kind: 'replace'; readonly name: string; readonly type: string; readonly ttl: number; readonly contents: readonly string[] }
  | { readonly kind: 'delete'; readonly name: string; readonly type: string };

export interface CreatedZone {
  /** false when the zone already existed (PowerDNS answered 409, or a 500 after which it exists). */
  readonly created: boolean;
  /** The zone as PowerDNS holds it after the call. */
  readonly zone: DnsZone;
}

/** An authoritative DNS server's zones and records (PowerDNS: providers/powerdns). */
export interface DnsPort {
  /** The zone with its RRsets; DnsNotFoundError when PowerDNS has no such zone. */
  getZone(name: string): Promise<DnsZone>;
  /** The zone, or null when PowerDNS has none by that name. */
  findZone(name: string): Promise<DnsZone | null>;
  /** Zones without their RRsets; `name` narrows the list to that zone (empty when absent). */
  listZones(filter?: { name?: string }): Promise<DnsZoneSummary[]>;
  /**
   * Creates a Native zone with its SOA, NS and optional RRsets. An existing zone is not an error:
   * it is read back and returned with `created: false`, for the caller to check and reconcile.
   */
  createZone(zone: NewZone): Promise<CreatedZone>;
  /** Applies the changes in one request: PowerDNS applies all of them or none. */
  patchRRsets(zone: string, changes: readonly RRsetChange[]): Promise<void>;
  /** Deletes the zone; false when there was none. */
  deleteZone(name: string): Promise<boolean>;
}

/** Base of every error the DNS provider throws. */
export class DnsError extends Error {
  override name = 'DnsError';
}

export type UnreachableReason = 'connection' | 'timeout' | 'server-error' | 'unauthorized';

/**
 * PowerDNS could not be asked: connection refused or reset, timeout, 5xx (after the retries), or a
 * refused API key. Transient from the caller's point of view (the key is fixed by configuration).
 */
export class DnsUnreachableError extends DnsError {
  override name = 'DnsUnreachableError';
  constructor(
    message: string,
    readonly reason: UnreachableReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** PowerDNS refused the request as invalid (HTTP 422, or 400): `upstreamMessage` says why. */
export class DnsRejectedError extends DnsError {
  override name = 'DnsRejectedError';
  constructor(readonly upstreamMessage: string) {
    super(`PowerDNS rejected the request: ${upstreamMessage}`);
  }
}

/** The zone does not exist in PowerDNS. */
export class DnsNotFoundError extends DnsError {
  override name = 'DnsNotFoundError';
  constructor(readonly zone: string) {
    super(`PowerDNS has no zone ${zone}`);
  }
}

/** PowerDNS answered something this client does not understand (a version change, a proxy page). */
export class DnsUnexpectedResponseError extends DnsError {
  override name = 'DnsUnexpectedResponseError';
}
