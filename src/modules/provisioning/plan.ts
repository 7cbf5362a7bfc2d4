import { z } from 'zod';
import type { JobType, ProductType } from '../../db/schema/index.js';
import { PROVISIONING_QUEUE, serverQueue } from '../../jobs/queue.js';
import { AppError } from '../../shared/errors/app-error.js';
import { issueSslPayload } from '../certificates/steps/issue-ssl.js';
import { provisionDnsPayload } from '../dns/steps/provision-dns.js';
import { provisionMailPayload } from '../mail/steps/provision-mail.js';
import { provisionHostingPayload } from '../hosting/steps/provision-hosting.js';
import { verifyAndActivatePayload } from './steps/verify-and-activate.js';

/** The steps an order's provisioning can plan (the lifecycle jobs are planned by staff actions). */
export const provisioningStepTypes = ['PROVISION_DNS', 'PROVISION_HOSTING', 'PROVISION_MAIL', 'ISSUE_SSL', 'VERIFY_AND_ACTIVATE'] as const satisfies readonly JobType[];
export type ProvisioningStepType = (typeof provisioningStepTypes)[number];

/** One step of an order's provisioning plan, before it becomes a jobs row. */
export interface PlannedStep {
  type: ProvisioningStepType;
  dependsOn: readonly ProvisioningStepType[];
  queue: string;
}

/** What the order's steps act on, known once the order's rows exist. */
export interface OrderFacts {
  readonly subscriptionId: string;
  readonly domainId: string;
  readonly domain: string;
  readonly mailboxes: readonly string[];
  readonly webServerId: string | null;
  readonly mailServerId: string | null;
}

/**
 * Each step's payload, built with the step's own schema: the one contract both this plan and the
 * handler use. (PROVISION_MAIL and ISSUE_SSL have no handler yet: their jobs fail with a clear
 * error and stay retryable until their modules land with their schemas.)
 */
const payloadOf: Record<ProvisioningStepType, (order: OrderFacts) => Record<string, unknown>> = {
  PROVISION_DNS: (o) => provisionDnsPayload.parse({ subscriptionId: o.subscriptionId, domainId: o.domainId, domain: o.domain, serverId: o.webServerId, mailServerId: o.mailServerId }),
  PROVISION_HOSTING: (o) => provisionHostingPayload.parse({ subscriptionId: o.subscriptionId, domainId: o.domainId, domain: o.domain, serverId: o.webServerId }),
  PROVISION_MAIL: (o) => provisionMailPayload.parse({ subscriptionId: o.subscriptionId, domainId: o.domainId, domain: o.domain, mailboxes: [...o.mailboxes], mailServerId: o.mailServerId }),
  ISSUE_SSL: (o) => issueSslPayload.parse({ subscriptionId: o.subscriptionId, domainId: o.domainId, domain: o.domain, serverId: o.webServerId }),
  VERIFY_AND_ACTIVATE: (o) => verifyAndActivatePayload.parse({ subscriptionId: o.subscriptionId, domainId: o.domainId, domain: o.domain }),
};

export function stepPayload(type: ProvisioningStepType, order: OrderFacts): Record<string, unknown> {
  return payloadOf[type](order);
}

export interface PlanInput {
  productType: ProductType;
  /** The product's features (validated by the catalog); only what the plan needs is read here. */
  features: unknown;
  mailboxCount: number;
  /** The web server chosen for the site, if one is registered: its steps go to its queue. */
  webServerId?: string | null;
  /** The mail server for the mailboxes, if one is registered. */
  mailServerId?: string | null;
}

const planFeatures = z.looseObject({ sslIncluded: z.boolean().optional() });

/**
 * Which steps an order needs and in which order (DESIGN.md "The order → live-site flow"): DNS
 * first; hosting and mail once the zone exists; the certificate once both DNS and the site exist;
 * VERIFY_AND_ACTIVATE last, after everything. Steps that act on a server (hosting and certificate
 * files on the web server, mailboxes on the mail server) go to that server's queue, consumed by the
 * worker running there; the others run on the provisioning queue.
 */
export function planProvisioning(input: PlanInput): PlannedStep[] {
  const features = planFeatures.safeParse(input.features);
  const ssl = features.success && features.data.sslIncluded === true;
  const steps: PlannedStep[] = [];
  const queueOf = (serverId: string | null | undefined) => (serverId ? serverQueue(serverId) : PROVISIONING_QUEUE);
  const onServer: Partial<Record<ProvisioningStepType, string>> = {
    PROVISION_HOSTING: queueOf(input.webServerId),
    ISSUE_SSL: queueOf(input.webServerId),
    PROVISION_MAIL: queueOf(input.mailServerId),
  };
  const add = (type: ProvisioningStepType, dependsOn: readonly ProvisioningStepType[]) => steps.push({ type, dependsOn, queue: onServer[type] ?? PROVISIONING_QUEUE });

  switch (input.productType) {
    case 'SHARED_HOSTING':
      add('PROVISION_DNS', []);
      add('PROVISION_HOSTING', ['PROVISION_DNS']);
      if (input.mailboxCount > 0) add('PROVISION_MAIL', ['PROVISION_DNS']);
      if (ssl) add('ISSUE_SSL', ['PROVISION_DNS', 'PROVISION_HOSTING']);
      break;
    case 'EMAIL':
      add('PROVISION_DNS', []);
      add('PROVISION_MAIL', ['PROVISION_DNS']);
      break;
    case 'DNS':
      add('PROVISION_DNS', []);
      break;
    case 'VPS':
    case 'DOMAIN':
      throw new AppError('VALIDATION_FAILED', `Products of type ${input.productType} cannot be ordered yet: mPanel does not provision them`, {
        fields: [{ field: 'body/priceId', message: `is a ${input.productType} price, which is not provisioned yet` }],
      });
  }
  add('VERIFY_AND_ACTIVATE', steps.map((step) => step.type));
  return steps;
}
