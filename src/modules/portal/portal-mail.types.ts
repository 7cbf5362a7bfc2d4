import { z } from 'zod';
import { pageOf } from '../../shared/http/pagination.js';
import { mailboxPassword, mailDomainResponse } from '../mail/mail.types.js';

// The portal takes the staff mail API's request and answer shapes (modules/mail/mail.types.ts),
// except where a customer needs less: no server or DKIM selector on a mail domain.
export { aliasesPage, aliasResponse, createAliasBody, createMailboxBody, listAliasesQuery, listMailboxesQuery, listMailDomainsQuery, mailboxesPage, mailboxWithPassword } from '../mail/mail.types.js';

export const portalMailDomain = mailDomainResponse.omit({ serverId: true, dkimSelector: true }).meta({ id: 'PortalMailDomain' });
export const portalMailDomainsPage = pageOf(portalMailDomain);

export const resetMailboxPasswordBody = z
  .strictObject({ password: mailboxPassword.optional().meta({ description: 'Omitted: a random password is generated and returned ONCE in `generatedPassword`' }) })
  .meta({ id: 'PortalMailboxPassword' });
