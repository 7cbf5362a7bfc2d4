import type { DomainEventType } from '../domain-events.js';
import type { EmailTemplate } from '../email-template.js';
import certificateExpiring from './certificate.expiring.js';
import certificateFailed from './certificate.failed.js';
import certificateIssued from './certificate.issued.js';
import certificateRenewed from './certificate.renewed.js';
import disputeClosed from './dispute.closed.js';
import disputeOpened from './dispute.opened.js';
import invoiceIssued from './invoice.issued.js';
import invoiceOverdue from './invoice.overdue.js';
import invoicePaid from './invoice.paid.js';
import invoiceReminder from './invoice.reminder.js';
import invoiceTerminationWarning from './invoice.termination_warning.js';
import invoiceVoided from './invoice.voided.js';
import jobFailed from './job.failed.js';
import mailboxCreated from './mailbox.created.js';
import orderReceived from './order.received.js';
import paymentFailed from './payment.failed.js';
import paymentRefunded from './payment.refunded.js';
import subscriptionActivated from './subscription.activated.js';
import subscriptionFailed from './subscription.failed.js';
import subscriptionPastDue from './subscription.past_due.js';
import subscriptionPlanChanged from './subscription.plan_changed.js';
import subscriptionRecovered from './subscription.recovered.js';
import subscriptionSuspended from './subscription.suspended.js';
import subscriptionTerminated from './subscription.terminated.js';
import subscriptionUnsuspended from './subscription.unsuspended.js';
import webhookEndpointDisabled from './webhook_endpoint.disabled.js';

/** The file template of each event (one file per event beside this one); a missing one does not compile. */
export const fileTemplates: Readonly<Record<DomainEventType, EmailTemplate>> = {
  'certificate.expiring': certificateExpiring,
  'certificate.failed': certificateFailed,
  'certificate.issued': certificateIssued,
  'certificate.renewed': certificateRenewed,
  'dispute.closed': disputeClosed,
  'dispute.opened': disputeOpened,
  'invoice.issued': invoiceIssued,
  'invoice.overdue': invoiceOverdue,
  'invoice.paid': invoicePaid,
  'invoice.reminder': invoiceReminder,
  'invoice.termination_warning': invoiceTerminationWarning,
  'invoice.voided': invoiceVoided,
  'job.failed': jobFailed,
  'mailbox.created': mailboxCreated,
  'order.received': orderReceived,
  'payment.failed': paymentFailed,
  'payment.refunded': paymentRefunded,
  'subscription.activated': subscriptionActivated,
  'subscription.failed': subscriptionFailed,
  'subscription.past_due': subscriptionPastDue,
  'subscription.plan_changed': subscriptionPlanChanged,
  'subscription.recovered': subscriptionRecovered,
  'subscription.suspended': subscriptionSuspended,
  'subscription.terminated': subscriptionTerminated,
  'subscription.unsuspended': subscriptionUnsuspended,
  'webhook_endpoint.disabled': webhookEndpointDisabled,
};
