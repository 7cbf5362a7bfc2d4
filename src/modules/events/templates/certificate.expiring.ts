import type { EmailTemplate } from '../email-template.js';

/** certificate.expiring: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Certificate for {{names}} expires {{notAfter}} and is not renewed`,
  text: `Hello {{recipientName}},

The certificate for {{names}} expires on {{notAfter}} and has not been renewed yet. Last error: {{error}}

mPanel keeps retrying; check the certificate in the panel, or run \`mpanel ssl renew\` for it once the cause is fixed.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>The certificate for {{names}} expires on {{notAfter}} and has not been renewed yet. Last error: {{error}}</p>
<p>mPanel keeps retrying; check the certificate in the panel, or run <code>mpanel ssl renew</code> for it once the cause is fixed.</p>`,
} satisfies EmailTemplate;
