import type { EmailTemplate } from '../email-template.js';

/** subscription.plan_changed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your plan is now {{toProductName}}`,
  text: `Hello {{recipientName}},

Your plan changed from {{fromProductName}} ({{fromAmount}}) to {{toProductName}} ({{toAmount}}) on {{effectiveAt}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Your plan changed from {{fromProductName}} ({{fromAmount}}) to {{toProductName}} ({{toAmount}}) on {{effectiveAt}}.</p>`,
} satisfies EmailTemplate;
