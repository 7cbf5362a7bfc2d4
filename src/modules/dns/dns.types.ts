import { z } from 'zod';
import { dnsRecordTypes, dnsZoneStatuses } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { MAX_TTL, MAX_TXT_LENGTH, MIN_TTL } from './dns-records.js';

export const dnsRecordType = z.enum(dnsRecordTypes);
export const dnsZoneStatus = z.enum(dnsZoneStatuses);

export const listZonesQuery = z.strictObject({
  status: dnsZoneStatus.optional(),
  ...paginationQuery,
});
export type ListZonesQuery = z.output<typeof listZonesQuery>;

export const dnsZoneResponse = z
  .object({
    id: z.uuid(),
    name: z.string().meta({ description: 'The zone (the customer domain), lower case, without the trailing dot' }),
    status: dnsZoneStatus,
    domainId: z.uuid().nullable(),
    serial: z.number().int().nullable().meta({ description: 'SOA serial in PowerDNS after the last change made through mPanel' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'DnsZone' });
export type DnsZoneView = z.output<typeof dnsZoneResponse>;

export const dnsRecordResponse = z
  .object({
    id: z.uuid(),
    zoneId: z.uuid(),
    name: z.string().meta({ description: 'Owner name, fully qualified, lower case, without the trailing dot' }),
    type: dnsRecordType,
    content: z.string().meta({
      description:
        'Record data without the priority: an address (A, AAAA), a host name without the trailing dot (CNAME, MX, NS), ' +
        'the text itself (TXT), "weight port target" (SRV), flags tag "value" (CAA)',
    }),
    ttl: z.number().int(),
    priority: z.number().int().nullable().meta({ description: 'MX and SRV only' }),
    managed: z.boolean().meta({ description: 'true while the record is as the default template made it; editing it makes it false' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'DnsRecord' });
export type DnsRecordView = z.output<typeof dnsRecordResponse>;

export const dnsZoneDetail = dnsZoneResponse
  .extend({
    nameservers: z.array(z.string()).meta({ description: "The zone's NS records, from the configuration (DNS_NAMESERVERS)" }),
    records: z.array(dnsRecordResponse).meta({ description: 'Sorted by name, type and content' }),
  })
  .meta({ id: 'DnsZoneDetail' });
export type DnsZoneDetailView = z.output<typeof dnsZoneDetail>;

export const dnsZonesPage = pageOf(dnsZoneResponse);
export type DnsZonesPage = z.output<typeof dnsZonesPage>;

const recordName = z
  .string()
  .min(1)
  .max(254)
  .meta({ description: "Relative to the zone ('@', 'www', '_dmarc'), or in full within the zone ('_sip._tcp.example.com'); a name with a dot is read in full" });
const recordContent = z
  .string()
  .min(1)
  .max(MAX_TXT_LENGTH)
  .meta({
    description:
      'A: 192.0.2.10; AAAA: 2001:db8::10; CNAME, MX, NS: a full host name (trailing dot optional) or @ for the zone; ' +
      'TXT: the text itself, without quotes (printable ASCII); SRV: "weight port target" (priority separate); CAA: flags tag value, e.g. 0 issue "letsencrypt.org"',
  });
const ttl = z
  .number()
  .int()
  .min(MIN_TTL)
  .max(MAX_TTL)
  .meta({ description: 'Seconds. PowerDNS keeps one TTL per name and type, so this becomes the TTL of every record of that name and type' });
const priority = z.number().int().min(0).max(65535).meta({ description: 'Required for MX and SRV, absent otherwise' });

export const createRecordBody = z.strictObject({
  name: recordName,
  type: dnsRecordType,
  content: recordContent,
  ttl: ttl.optional().meta({ description: 'Default: the TTL of the existing records of that name and type, else DNS_DEFAULT_TTL' }),
  priority: priority.optional(),
});
export type CreateRecordBody = z.output<typeof createRecordBody>;

export const updateRecordBody = z
  .strictObject({
    name: recordName.optional(),
    content: recordContent.optional(),
    ttl: ttl.optional(),
    priority: priority.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), { message: 'give at least one of name, content, ttl, priority' })
  .meta({ description: 'The type of a record cannot change: delete it and create another' });
export type UpdateRecordBody = z.output<typeof updateRecordBody>;

export const noContent = z.null().meta({ description: 'Deleted' });
