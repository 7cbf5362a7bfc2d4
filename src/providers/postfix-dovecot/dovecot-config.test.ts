import { describe, expect, it } from 'vitest';
import { autoSubscribedFolders } from './dovecot-config.js';

// `doveconf -c <conf> namespace` output of Dovecot 2.3.19 (scripts/services.sh's namespace, trimmed of
// the settings the parser skips), and variations of it.
const mailbox = (name: string, auto: string) => `  mailbox ${name} {\n    auto = ${auto}\n    autoexpunge = 0\n    special_use = \\${name}\n  }\n`;
const namespace = (name: string, { inbox = 'yes', prefix = '', boxes = '' } = {}) =>
  `namespace ${name} {\n  disabled = no\n  inbox = ${inbox}\n  list = yes\n  location = \n${boxes}  order = 0\n  prefix = ${prefix}\n  separator = \n  type = private\n}\n`;
const standard = ['Drafts', 'Junk', 'Sent', 'Trash'].map((name) => mailbox(name, 'subscribe')).join('');

describe('autoSubscribedFolders', () => {
  it('names the folders the INBOX namespace creates and subscribes', () => {
    expect([...autoSubscribedFolders(namespace('inbox', { boxes: standard }))].sort()).toEqual(['Drafts', 'Junk', 'Sent', 'Trash']);
    expect(autoSubscribedFolders(namespace('inbox', { boxes: `  mailbox "Sent Messages" {\n    auto = subscribe\n  }\n` }))).toEqual(new Set(['Sent Messages']));
  });

  it('names none without a namespace (Dovecot default), or for auto = create / no', () => {
    expect(autoSubscribedFolders('')).toEqual(new Set());
    expect(autoSubscribedFolders(namespace('inbox', { boxes: mailbox('Drafts', 'create') + mailbox('Sent', 'no') }))).toEqual(new Set());
  });

  it('ignores other namespaces and an INBOX namespace with a prefix', () => {
    expect(autoSubscribedFolders(namespace('shared', { inbox: 'no', boxes: standard }))).toEqual(new Set());
    expect(autoSubscribedFolders(namespace('inbox', { prefix: 'INBOX.', boxes: standard }))).toEqual(new Set());
    expect(autoSubscribedFolders(namespace('shared', { inbox: 'no', boxes: mailbox('Junk', 'subscribe') }) + namespace('inbox', { boxes: mailbox('Drafts', 'subscribe') }))).toEqual(new Set(['Drafts']));
  });
});
