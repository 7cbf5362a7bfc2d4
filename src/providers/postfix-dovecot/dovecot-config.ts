/**
 * What the provider reads from Dovecot's configuration (`doveconf -c <conf> namespace`, the full
 * settings of every namespace, defaults included), as a pure function.
 */

/**
 * The folders Dovecot creates and subscribes by itself at a mailbox's first access: `mailbox <name>
 * { auto = subscribe }` inside the INBOX namespace (`inbox = yes`, no prefix), as scripts/services.sh
 * configures Drafts, Sent, Trash and Junk. `auto = create` does not count: the provider's own path
 * (doveadm) subscribes the folders too.
 */
export function autoSubscribedFolders(doveconfNamespaces: string): Set<string> {
  const folders = new Set<string>();
  let namespace: { inbox: boolean; prefix: string; folders: string[] } | null = null;
  let mailbox: string | null = null;
  for (const line of doveconfNamespaces.split('\n')) {
    // doveconf indents two spaces per level: namespace at 0, its settings and mailboxes at 2, theirs at 4.
    const depth = line.length - line.trimStart().length;
    const text = line.trim();
    if (depth === 0 && /^namespace\s.*\{$/.test(text)) namespace = { inbox: false, prefix: '', folders: [] };
    else if (depth === 0 && text === '}') {
      if (namespace?.inbox && namespace.prefix === '') for (const folder of namespace.folders) folders.add(folder);
      namespace = null;
    } else if (namespace && depth === 2) {
      const opened = /^mailbox\s+(?:"([^"]+)"|(\S+))\s*\{$/.exec(text);
      if (opened) mailbox = opened[1] ?? opened[2] ?? null;
      else if (text === '}') mailbox = null;
      else if (text === 'inbox = yes') namespace.inbox = true;
      else if (text.startsWith('prefix =')) namespace.prefix = text.slice('prefix ='.length).trim();
    } else if (namespace && mailbox !== null && depth === 4 && text === 'auto = subscribe') namespace.folders.push(mailbox);
  }
  return folders;
}
