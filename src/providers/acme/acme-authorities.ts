import { AcmeAuthority, type AcmeAuthoritySettings } from './acme-authority.js';
import type { CertificateAccount, CertificateAuthorities, CertificateAuthority } from '../certificates.port.js';

/** Settings of every authority of this CA; the account comes from forAccount(). */
export type AcmeAuthoritiesSettings = Omit<AcmeAuthoritySettings, 'accountKeyPem' | 'accountUrl'>;

/**
 * The ACME CA of the install: one AcmeAuthority (and so one transport with its kept-alive
 * connections) per account URL, built on first use. In practice one account per install.
 */
export class AcmeAuthorities implements CertificateAuthorities {
  readonly directoryUrl: string;
  private readonly byAccount = new Map<string, AcmeAuthority>();
  private readonly unbound = new Set<AcmeAuthority>();

  constructor(private readonly settings: AcmeAuthoritiesSettings) {
    this.directoryUrl = settings.directoryUrl;
  }

  forAccount(account: CertificateAccount | null): CertificateAuthority {
    if (account === null) {
      const authority = new AcmeAuthority({ ...this.settings, accountKeyPem: null });
      this.unbound.add(authority);
      return authority;
    }
    let authority = this.byAccount.get(account.accountUrl);
    if (!authority) {
      authority = new AcmeAuthority({ ...this.settings, accountKeyPem: account.accountKeyPem, accountUrl: account.accountUrl });
      this.byAccount.set(account.accountUrl, authority);
    }
    return authority;
  }

  async close(): Promise<void> {
    const all = [...this.byAccount.values(), ...this.unbound];
    this.byAccount.clear();
    this.unbound.clear();
    await Promise.all(all.map((authority) => authority.close()));
  }
}
