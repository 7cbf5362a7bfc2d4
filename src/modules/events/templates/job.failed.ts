import type { EmailTemplate } from '../email-template.js';

/** job.failed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Provisioning failed: {{jobType}}`,
  text: `Hello {{recipientName}},

The {{jobType}} step (job {{jobId}}) failed for good after {{attempts}} attempts: {{error}}. Retry it from the jobs page once the cause is fixed.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>The {{jobType}} step (job {{jobId}}) failed for good after {{attempts}} attempts: {{error}}. Retry it from the jobs page once the cause is fixed.</p>`,
} satisfies EmailTemplate;
