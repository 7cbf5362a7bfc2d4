import { isIP } from 'node:net';
import { z } from 'zod';
import { serverDrivers, serverRoles, serverStatuses } from '../../db/schema/index.js';
import { parseHostKey } from '../../providers/host/ssh-host-key.js';
import { domainName, isNormalizedDomain } from '../../shared/domain-name.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';

export const serverRole = z.enum(serverRoles);
export const serverDriver = z.enum(serverDrivers);
export const serverStatus = z.enum(serverStatuses);

const hostname = domainName.meta({ description: 'Fully qualified host name, e.g. web1.example.net (stored lower-case, IDN as punycode)' });
const ipv4 = z.string().refine((value) => isIP(value) === 4, 'must be an IPv4 address');
const ipv6 = z
  .string()
  .refine((value) => isIP(value) === 6, 'must be an IPv6 address')
  // One textual form per address (lower case, zeros compressed): the site check compares them.
  .transform((value) => new URL(`http://[${value}]/`).hostname.slice(1, -1));
const port = z.number().int().min(1).max(65535);
const sshHost = z
  .string()
  .max(253)
  .refine((value) => isIP(value) !== 0 || isNormalizedDomain(value), 'must be an IP address or a lower-case host name');
const sshUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name (lower-case letters, digits, _ and -)');
const sshHostKey = z
  .string()
  .max(16_384)
  .transform((value) => value.trim())
  .refine((value) => parseHostKey(value) !== null, 'must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA... host" (ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub)')
  .meta({ description: "The server's SSH host key, pinned: the SSH driver refuses any other" });
const capacity = z.number().int().min(0).max(1_000_000).meta({ description: 'Maximum number of websites; null = unlimited' });

export const createServerBody = z.strictObject({
  hostname,
  role: serverRole,
  driver: serverDriver.meta({ description: 'LOCAL: a worker runs on the server itself; SSH: the worker drives it over SSH' }),
  status: serverStatus.default('ACTIVE'),
  ipv4: ipv4.nullish(),
  ipv6: ipv6.nullish(),
  httpPort: port.default(80).meta({ description: "The port nginx serves sites on (the vhosts' listen port)" }),
  sshHost: sshHost.nullish(),
  sshPort: port.nullish().meta({ description: 'Default 22' }),
  sshUser: sshUser.nullish(),
  sshHostKey: sshHostKey.nullish(),
  capacity: capacity.nullish(),
});
export type CreateServerInput = z.input<typeof createServerBody>;
export type CreateServerBody = z.output<typeof createServerBody>;

export const updateServerBody = z
  .strictObject({
    hostname: hostname.optional(),
    driver: serverDriver.optional(),
    status: serverStatus.optional(),
    ipv4: ipv4.nullable().optional(),
    ipv6: ipv6.nullable().optional(),
    httpPort: port.optional(),
    sshHost: sshHost.nullable().optional(),
    sshPort: port.nullable().optional(),
    sshUser: sshUser.nullable().optional(),
    sshHostKey: sshHostKey.nullable().optional(),
    capacity: capacity.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'must change at least one field');
export type UpdateServerBody = z.output<typeof updateServerBody>;

export const listServersQuery = z.strictObject({
  role: serverRole.optional(),
  driver: serverDriver.optional(),
  status: serverStatus.optional(),
  ...paginationQuery,
});
export type ListServersQuery = z.output<typeof listServersQuery>;

export const serverResponse = z
  .object({
    id: z.uuid(),
    hostname: z.string(),
    role: serverRole,
    driver: serverDriver,
    status: serverStatus,
    ipv4: z.string().nullable(),
    ipv6: z.string().nullable(),
    httpPort: z.number().int(),
    sshHost: z.string().nullable(),
    sshPort: z.number().int().nullable(),
    sshUser: z.string().nullable(),
    sshHostKey: z.string().nullable(),
    capacity: z.number().int().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Server' });
export type ServerView = z.output<typeof serverResponse>;

export const serversPage = pageOf(serverResponse);
export type ServersPage = z.output<typeof serversPage>;
