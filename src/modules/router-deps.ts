import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Database } from '../config/database.js';
import type { Env } from '../config/env.js';
import type { JobProducer } from '../jobs/queue.js';
import type { SessionInvalidator } from './auth/session-cache.js';
import type { DnsPort } from '../providers/dns.port.js';
import type { MailProvider } from '../providers/mailserver.port.js';
import type { HttpMetrics } from '../shared/metrics/metrics.js';
import type { CustomerLinkMailer } from './customer-auth/customer-link-mailer.js';
import type { StaffInvitationMailer } from './users/staff-invitation-mailer.js';

/**
 * What a module's router receives when app.ts registers it (a plain object, no DI framework):
 * the clients and the providers the composition root built once, as ports.
 */
export interface RouterDeps {
  env: Env;
  logger: Logger;
  db: Database;
  /** Fail-fast ("command") connection, see config/redis.ts. */
  redis: Redis;
  /** Hands jobs to BullMQ after commit (fails fast when Redis is down; the outbox sweeper retries). */
  producer: JobProducer;
  metrics: HttpMetrics;
  dns: DnsPort;
  /** The mail servers (Postfix + Dovecot): mailbox and alias changes are applied through it, usage read from it. */
  mail: MailProvider;
  /** The per-request user/tenant/session state; writers tell it what changed (modules/auth/session-cache.ts). */
  sessions: SessionInvalidator;
  /** Emails customer links (invitation, reset, sign-in): modules/customer-auth/customer-link-mailer.ts. */
  customerLinkMailer: CustomerLinkMailer;
  /** Emails staff invitations: modules/users/staff-invitation-mailer.ts. */
  staffInvitationMailer: StaffInvitationMailer;
}
