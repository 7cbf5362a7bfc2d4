// mailauth 4.x (the last line supporting Node 20) ships no type declarations; this covers the part
// the tests use. Shapes from node_modules/mailauth/lib/mailauth.js and lib/dkim/dkim-verifier.js.
declare module 'mailauth' {
  /** Same contract as `dns.promises.resolve(name, rrtype)`: TXT answers are string[][]. */
  export type MailauthResolver = (name: string, rrtype: string) => Promise<unknown>;

  export interface DkimSignatureResult {
    signingDomain: string;
    selector: string;
    status: { result: 'pass' | 'fail' | 'neutral' | 'none' | 'policy' | 'temperror' | 'permerror'; comment?: string; aligned?: string | false };
    info: string;
  }

  export interface AuthenticateResult {
    dkim: { headerFrom: string[]; envelopeFrom: string | false; results: DkimSignatureResult[] };
  }

  export function authenticate(
    input: Buffer | string | NodeJS.ReadableStream,
    options: {
      resolver?: MailauthResolver;
      sender?: string;
      ip?: string;
      helo?: string;
      mta?: string;
      minBitLength?: number;
      disableArc?: boolean;
      disableDmarc?: boolean;
      disableBimi?: boolean;
    },
  ): Promise<AuthenticateResult>;
}
