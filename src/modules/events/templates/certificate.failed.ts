import type { EmailTemplate } from '../email-template.js';

/** certificate.failed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Certificate failed for {{names}}`,
  text: `Hello {{recipientName}},

A certificate for {{names}} could not be issued: {{error}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A certificate for {{names}} could not be issued: {{error}}.</p>`,
} satisfies EmailTemplate;
