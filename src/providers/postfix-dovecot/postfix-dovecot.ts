import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImapFlow } from 'imapflow';
import type { HostDirectory } from '../host/host-directory.js';
import type { HostTransport, WriteOptions } from '../host/host.port.js';
import {
  MailServerError,
  type ApplyResult,
  type DkimKeyPair,
  type MailDomainSpec,
  type MailProvider,
  type MailServerPort,
  type MailServerTarget,
  type QuotaUsage,
} from '../mailserver.port.js';
import { autoSubscribedFolders } from './dovecot-config.js';
import { connectImap } from './imap-connect.js';
import { checkAddress, checkDomain, checkSpec, domainLines, keyPath, mailFiles, replaceDomainLines, type MailFile } from './mail-files.js';
import { sha512Crypt } from './sha512-crypt.js';

/**
 * The mail port on Postfix + Dovecot + OpenDKIM (README "Mail stack"; the file contract is in
 * scripts/services.sh, "Mail"), through the host transport: LocalHost on this machine, SshHost on
 * a remote mail server with the same layout.
 *
 * Every change is one read-modify-write of the files, serialised twice: per server in this process
 * (HostDirectory.exclusive) and across processes by `flock -x $MAIL_PANEL_DIR/.lock` on the host,
 * the lock every writer of these files takes. Files are replaced atomically with their owner and
 * mode set before the rename; a file whose text would not change is not written, and only what
 * must see a change is reloaded (scripts/services.sh, "Mail", says why each is needed):
 * - users file → SIGHUP to Dovecot's master (what `doveadm reload` sends, without its 0.1–0.2 s of
 *   process start here): its passwd-file is re-read without it, but at most once a second, so a new
 *   mailbox or password would count up to a second late; then `postfix reload` (idle smtpd
 *   processes keep their connections to the old auth and quota-status processes); the file's
 *   mtime always moves forward by at least a second;
 * - Postfix maps → one `postmap` for all changed maps, then `postfix reload` (a .db rebuilt within
 *   the second a process opened it is not noticed; trivial-rewrite looks only every 10 s);
 * - OpenDKIM key or tables → SIGUSR1 to OpenDKIM.
 * Postfix's reload stays the command, after Dovecot's: a bare SIGHUP to both at once let a message
 * accepted in that instant get LMTP's "421 Shutting down" from the old Dovecot while Postfix's
 * queue manager was being replaced, and it then sat deferred for minutes (seen in the provider
 * test); `postfix reload`'s own checks (~0.2 s) leave Dovecot the time to finish its reload first.
 * The standard folders cost nothing when Dovecot creates them itself (`auto = subscribe` in the
 * INBOX namespace, read with doveconf); otherwise doveadm creates them per mailbox.
 */

export interface MailLayout {
  /** Dovecot's passwd-file (root:dovecot 0640). */
  readonly usersFile: string;
  /** Maildirs: `${mailRoot}/<domain>/<local part>`. */
  readonly mailRoot: string;
  /** vdomains, vmailboxes, valiases, .lock and dkim/ (KeyTable, SigningTable, keys/). */
  readonly panelDir: string;
  readonly dovecotConf: string;
  readonly postfixConfigDir: string;
  readonly opendkimPidFile: string;
}

export interface MailSettings {
  readonly layout: MailLayout;
  /** Dovecot's IMAP and Postfix's inbound SMTP, on the server's address (127.0.0.1 for LOCAL). */
  readonly imapPort: number;
  readonly smtpInPort: number;
  /** Per command (postmap, reloads, doveadm); default 60 s. */
  readonly commandTimeoutMs?: number;
}

interface Owners {
  readonly dovecotGid: number;
  readonly opendkim: { readonly uid: number; readonly gid: number };
}

/** How long the folders Dovecot's config auto-subscribes are trusted before doveconf runs again. */
const AUTO_FOLDERS_TTL_MS = 60_000;

interface PendingChange {
  readonly domain: string;
  /** null: remove the domain. */
  readonly spec: MailDomainSpec | null;
  resolve(result: ApplyResult): void;
  reject(error: unknown): void;
}

function assertAbsolute(value: string, what: string): string {
  if (!path.posix.isAbsolute(value) || value.includes('\n') || path.posix.normalize(value) !== value.replace(/\/+$/, '')) {
    throw new MailServerError(`the mail layout's ${what} must be a normalised absolute path (got "${value}")`, true);
  }
  return value;
}

export class PostfixDovecotMail implements MailServerPort {
  readonly description: string;
  private readonly paths: Record<MailFile, string>;
  private readonly keysDir: string;
  private readonly timeoutMs: number;
  private owners: Promise<Owners> | null = null;
  /** Dovecot's master.pid, from its base_dir (read once). */
  private dovecotPidFile: Promise<string> | null = null;
  private autoFolders: { readonly at: number; readonly folders: Promise<ReadonlySet<string>> } | null = null;
  private readonly pending: PendingChange[] = [];

  constructor(
    private readonly host: HostTransport,
    private readonly layout: MailLayout,
    /** Serialises this process's writers of the server's files (HostDirectory.exclusive). */
    private readonly exclusive: <T>(work: () => Promise<T>) => Promise<T>,
    private readonly endpoint: { readonly host: string; readonly imapPort: number; readonly smtpInPort: number },
    timeoutMs = 60_000,
  ) {
    for (const what of ['usersFile', 'mailRoot', 'panelDir', 'dovecotConf', 'postfixConfigDir', 'opendkimPidFile'] as const) assertAbsolute(layout[what], what);
    this.description = host.description;
    this.timeoutMs = timeoutMs;
    const panel = layout.panelDir;
    this.keysDir = `${panel}/dkim/keys`;
    this.paths = {
      users: layout.usersFile,
      vdomains: `${panel}/vdomains`,
      vmailboxes: `${panel}/vmailboxes`,
      valiases: `${panel}/valiases`,
      keyTable: `${panel}/dkim/KeyTable`,
      signingTable: `${panel}/dkim/SigningTable`,
    };
  }

  private async run(argv: readonly string[], what: string): Promise<string> {
    const result = await this.host.run(argv, this.timeoutMs);
    if (result.code !== 0) throw new MailServerError(`${what} failed on ${this.description} (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(0, 500)}`, false);
    return result.stdout;
  }

  /** Numeric ids of the accounts that must read the files, looked up once on the host. */
  private resolveOwners(): Promise<Owners> {
    this.owners ??= (async () => {
      const number = async (argv: string[]) => Number((await this.run(argv, argv.join(' '))).trim().split(':')[2] ?? Number.NaN);
      const id = async (flag: '-u' | '-g', user: string) => Number((await this.run(['id', flag, user], `id ${flag} ${user}`)).trim());
      const owners = { dovecotGid: await number(['getent', 'group', 'dovecot']), opendkim: { uid: await id('-u', 'opendkim'), gid: await id('-g', 'opendkim') } };
      if (![owners.dovecotGid, owners.opendkim.uid, owners.opendkim.gid].every(Number.isInteger)) throw new MailServerError(`cannot find the dovecot group or opendkim user on ${this.description}`, true);
      return owners;
    })().catch((error: unknown) => {
      this.owners = null;
      throw error;
    });
    return this.owners;
  }

  /**
   * SIGHUP to Dovecot's master when its pid file names a running `dovecot` (a stale pid file can
   * name an unrelated process); otherwise `doveadm reload`, which says what is wrong.
   */
  private async reloadDovecot(): Promise<void> {
    this.dovecotPidFile ??= this.run(['doveconf', '-c', this.layout.dovecotConf, '-h', 'base_dir'], 'doveconf base_dir')
      .then((baseDir) => `${assertAbsolute(baseDir.trim(), "Dovecot's base_dir")}/master.pid`)
      .catch((error: unknown) => {
        this.dovecotPidFile = null;
        throw error;
      });
    const pid = Number((await this.host.readFile(await this.dovecotPidFile))?.trim());
    const running = Number.isInteger(pid) && pid > 1 && (await this.host.readFile(`/proc/${pid}/comm`))?.trim() === 'dovecot';
    if (running && (await this.host.signal(pid, 'SIGHUP'))) return;
    await this.run(['doveadm', '-c', this.layout.dovecotConf, 'reload'], 'doveadm reload');
  }

  /** The folders Dovecot's configuration creates and subscribes itself, read at most once a minute. */
  private autoSubscribed(): Promise<ReadonlySet<string>> {
    const now = Date.now();
    if (!this.autoFolders || now - this.autoFolders.at > AUTO_FOLDERS_TTL_MS) {
      const folders = this.run(['doveconf', '-c', this.layout.dovecotConf, 'namespace'], 'doveconf namespace').then(autoSubscribedFolders);
      this.autoFolders = { at: now, folders };
      folders.catch(() => {
        if (this.autoFolders?.folders === folders) this.autoFolders = null;
      });
    }
    return this.autoFolders.folders;
  }

  private writeOptions(file: MailFile, owners: Owners): { mode: number; options: WriteOptions } {
    switch (file) {
      case 'users':
        return { mode: 0o640, options: { owner: { uid: 0, gid: owners.dovecotGid }, increaseMtime: true } };
      case 'keyTable':
      case 'signingTable':
        return { mode: 0o640, options: { owner: { uid: 0, gid: owners.opendkim.gid } } };
      default:
        return { mode: 0o644, options: {} };
    }
  }

  /**
   * Queues the domain's change. Changes arriving while a write runs share the next one: one pass
   * over the files and one set of reloads for all of them (20 mailboxes ordered at once cost about
   * as much as two).
   */
  private write(domain: string, spec: MailDomainSpec | null): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      this.pending.push({ domain, spec, resolve, reject });
      void this.exclusive(async () => {
        const batch = this.pending.splice(0);
        if (batch.length === 0) return; // an earlier run took this change
        try {
          const result = await this.host.withLock(`${this.layout.panelDir}/.lock`, () => this.writeBatch(batch));
          for (const change of batch) change.resolve(result);
        } catch (error) {
          for (const change of batch) change.reject(error);
        }
      });
    });
  }

  /** One read-modify-write of every file for the batch's domains, under the host's lock, then the reloads. */
  private async writeBatch(batch: readonly PendingChange[]): Promise<ApplyResult> {
    const owners = await this.resolveOwners();
    const texts = new Map<MailFile, { before: string; after: string }>();
    for (const file of mailFiles) {
      const current = (await this.host.readFile(this.paths[file])) ?? '';
      texts.set(file, { before: current, after: current });
    }
    let keyChanged = false;
    for (const { domain, spec } of batch) {
      // The key first: a KeyTable line never names a key file that is not there yet.
      const dkim = spec?.dkim ?? null;
      if (dkim) {
        const file = keyPath(this.keysDir, domain, dkim.selector);
        if ((await this.host.readFile(file)) !== dkim.privateKeyPem) {
          await this.host.writeFileAtomic(file, dkim.privateKeyPem, 0o600, { owner: owners.opendkim });
          keyChanged = true;
        }
      }
      const wanted = domainLines(spec, domain, this.keysDir);
      for (const file of mailFiles) {
        const text = texts.get(file)!;
        text.after = replaceDomainLines(file, text.after, domain, wanted[file]);
      }
    }
    const changed: MailFile[] = [];
    for (const file of mailFiles) {
      const { before, after } = texts.get(file)!;
      if (after === before) continue;
      const { mode, options } = this.writeOptions(file, owners);
      await this.host.writeFileAtomic(this.paths[file], after, mode, options);
      changed.push(file);
    }

    const reloaded: string[] = [];
    if (changed.includes('users')) {
      // First: Dovecot reloads while postmap and `postfix reload` run.
      await this.reloadDovecot();
      reloaded.push('dovecot');
    }
    const maps = changed.filter((file) => file === 'vdomains' || file === 'vmailboxes' || file === 'valiases');
    if (maps.length > 0) await this.run(['postmap', '-c', this.layout.postfixConfigDir, ...maps.map((map) => `hash:${this.paths[map]}`)], `postmap ${maps.join(' ')}`);
    if (maps.length > 0 || changed.includes('users')) {
      await this.run(['postfix', '-c', this.layout.postfixConfigDir, 'reload'], 'postfix reload');
      reloaded.push('postfix');
    }
    if (keyChanged || changed.includes('keyTable') || changed.includes('signingTable')) {
      await this.reloadOpenDkim();
      reloaded.push('opendkim');
    }
    // Keys of selectors a domain no longer uses go once their lines are gone.
    for (const { domain, spec } of batch) if (!spec?.dkim || changed.includes('keyTable')) await this.removeStaleKeys(domain, spec?.dkim?.selector ?? null);
    return { changed: changed.map((file) => this.paths[file]), reloaded };
  }

  private async reloadOpenDkim(): Promise<void> {
    const pid = Number((await this.host.readFile(this.layout.opendkimPidFile))?.trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new MailServerError(`OpenDKIM is not running on ${this.description} (no pid in ${this.layout.opendkimPidFile})`, false);
    if (!(await this.host.signal(pid, 'SIGUSR1'))) throw new MailServerError(`cannot signal OpenDKIM (pid ${pid}) on ${this.description}`, false);
  }

  private async removeStaleKeys(domain: string, keep: string | null): Promise<void> {
    const listing = await this.host.run(['find', this.keysDir, '-maxdepth', '1', '-name', `${domain}.*.key`], this.timeoutMs);
    for (const file of listing.stdout.split('\n').filter(Boolean)) {
      const selector = path.posix.basename(file).slice(domain.length + 1, -'.key'.length);
      if (selector !== keep && !selector.includes('.')) await this.host.removeFile(file);
    }
  }

  async applyDomain(spec: MailDomainSpec): Promise<ApplyResult> {
    checkSpec(spec);
    return this.write(spec.domain, spec);
  }

  private maildir(address: string): { dir: string; domainDir: string; localPart: string; domain: string } {
    const { localPart, domain } = checkAddress(address);
    return { dir: `${this.layout.mailRoot}/${domain}/${localPart}`, domainDir: `${this.layout.mailRoot}/${domain}`, localPart, domain };
  }

  async ensureFolders(address: string, folders: readonly string[]): Promise<void> {
    this.maildir(address);
    for (const folder of folders) if (!/^[A-Za-z][A-Za-z0-9 _-]{0,63}$/.test(folder)) throw new MailServerError(`refusing the folder name "${folder}"`, true);
    // Dovecot shows and makes them at the mailbox's first access (LIST, SELECT, a delivery).
    const automatic = await this.autoSubscribed();
    if (folders.every((folder) => automatic.has(folder))) return;
    const doveadm = ['doveadm', '-c', this.layout.dovecotConf];
    const listed = await this.run([...doveadm, 'mailbox', 'list', '-u', address], `doveadm mailbox list for ${address}`);
    const existing = new Set(listed.split('\n').map((line) => line.trim()));
    const missing = folders.filter((folder) => !existing.has(folder));
    if (missing.length > 0) await this.run([...doveadm, 'mailbox', 'create', '-s', '-u', address, ...missing], `doveadm mailbox create for ${address}`);
  }

  async quota(address: string): Promise<QuotaUsage> {
    this.maildir(address);
    const out = await this.run(['doveadm', '-c', this.layout.dovecotConf, '-f', 'tab', 'quota', 'get', '-u', address], `doveadm quota get for ${address}`);
    // quota name  type  value  limit  %   (STORAGE in KiB, MESSAGE in messages; limit '-' = none)
    let usedBytes = 0;
    let limitBytes: number | null = null;
    let messages = 0;
    for (const line of out.split('\n').slice(1)) {
      const [, type, value, limit] = line.split('\t');
      if (type === 'STORAGE') {
        usedBytes = Number(value) * 1024;
        limitBytes = limit && limit !== '-' ? Number(limit) * 1024 : null;
      } else if (type === 'MESSAGE') messages = Number(value);
    }
    return { usedBytes, limitBytes, messages };
  }

  private async archiveDir(parent: string, name: string, archiveTo: string | null, label: string): Promise<string | null> {
    const dir = `${parent}/${name}`;
    if (!(await this.host.exists(dir))) return null;
    let archive: string | null = null;
    if (archiveTo !== null) {
      assertAbsolute(archiveTo, 'archive directory');
      await this.host.ensureDir(archiveTo, 0o700);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      archive = `${archiveTo}/${label}-${stamp}.tar.gz`;
      const tar = await this.host.run(['tar', '-czf', archive, '-C', parent, name], 600_000);
      if (tar.code !== 0) throw new MailServerError(`archiving ${dir} to ${archive} failed (the mail is kept): ${tar.stderr.trim()}`, false);
    }
    await this.host.removeTree(dir);
    return archive;
  }

  async archiveMailbox(address: string, archiveTo: string | null): Promise<string | null> {
    const { domainDir, localPart, domain } = this.maildir(address);
    return this.archiveDir(domainDir, localPart, archiveTo, `${domain}-${localPart}`);
  }

  async removeDomain(domain: string, archiveTo: string | null): Promise<{ archive: string | null }> {
    checkDomain(domain);
    // The lines first: from then on the domain's mail is refused at RCPT (554) instead of delivered into a maildir being archived.
    await this.write(domain, null);
    return { archive: await this.archiveDir(this.layout.mailRoot, domain, archiveTo, `${domain}-mail`) };
  }

  /**
   * IMAP and SMTP clients are loaded at their first use, not at start-up: imapflow and nodemailer
   * are ~27 and ~16 MB of RSS in every process that builds this provider (the API included).
   */
  private async imap(address: string, password: string): Promise<ImapFlow> {
    const { ImapFlow } = await import('imapflow');
    return new ImapFlow({ host: this.endpoint.host, port: this.endpoint.imapPort, secure: false, logger: false, auth: { user: address, pass: password }, connectionTimeout: 10_000 });
  }

  async checkLogin(address: string, password: string): Promise<boolean> {
    this.maildir(address);
    let client: ImapFlow;
    try {
      client = await connectImap(() => this.imap(address, password));
    } catch (error) {
      if (error instanceof Error && 'authenticationFailed' in error && error.authenticationFailed === true) return false;
      throw new MailServerError(`IMAP on ${this.endpoint.host}:${this.endpoint.imapPort} failed: ${error instanceof Error ? error.message : String(error)}`, false, { cause: error });
    }
    await client.logout();
    return true;
  }

  async sendInbound(message: { from: string; to: string; subject: string; text: string }): Promise<void> {
    checkAddress(message.to);
    const { default: nodemailer } = await import('nodemailer');
    const transport = nodemailer.createTransport({ host: this.endpoint.host, port: this.endpoint.smtpInPort, secure: false, ignoreTLS: true, connectionTimeout: 10_000 });
    try {
      await transport.sendMail(message);
    } catch (error) {
      throw new MailServerError(`inbound SMTP on ${this.endpoint.host}:${this.endpoint.smtpInPort} refused the message to ${message.to}: ${error instanceof Error ? error.message : String(error)}`, false, { cause: error });
    } finally {
      transport.close();
    }
  }

  async inboxHas(address: string, password: string, subject: string, timeoutMs: number): Promise<boolean> {
    this.maildir(address);
    const client = await connectImap(() => this.imap(address, password));
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        for (const deadline = Date.now() + timeoutMs; ; await sleep(25)) {
          await client.noop(); // lets Dovecot announce what LMTP delivered since the last command
          const found = await client.search({ subject }, { uid: true });
          if (found && found.length > 0) return true;
          if (Date.now() > deadline) return false;
        }
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  }
}

/** The mail servers, one adapter per servers row (cached), on the shared host transports. */
export class PostfixDovecotProvider implements MailProvider {
  private readonly adapters = new Map<string, PostfixDovecotMail>();

  constructor(
    private readonly hosts: HostDirectory,
    private readonly settings: MailSettings,
  ) {}

  forServer(server: MailServerTarget): MailServerPort {
    const key = `${server.id} ${this.hosts.keyOf(server)}`;
    let adapter = this.adapters.get(key);
    if (!adapter) {
      const host = this.hosts.transportFor(server);
      const address = server.driver === 'LOCAL' ? '127.0.0.1' : (server.ipv4 ?? server.ipv6 ?? server.hostname);
      const endpoint = { host: address, imapPort: this.settings.imapPort, smtpInPort: this.settings.smtpInPort };
      adapter = new PostfixDovecotMail(host, this.settings.layout, (work) => this.hosts.exclusive(server, 'mail-files', work), endpoint, this.settings.commandTimeoutMs);
      this.adapters.set(key, adapter);
    }
    return adapter;
  }

  hashPassword(plain: string): string {
    return `{SHA512-CRYPT}${sha512Crypt(plain)}`;
  }

  generateDkimKey(): DkimKeyPair {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return {
      privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      publicKeyBase64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    };
  }
}
