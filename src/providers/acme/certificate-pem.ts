import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CertificateError, type CertificateIssuer, type CertificateKeyType, type IssuedCertificate } from '../certificates.port.js';

/**
 * What mPanel records about an issued certificate, read from the certificate itself with
 * node:crypto's X509Certificate, and the checks that make it safe to hand to nginx: the leaf
 * belongs to our key, each certificate of the chain is signed by the next, and the leaf names
 * exactly what was asked for.
 */

/** The PEM blocks of a chain, leaf first. */
export function splitCertificateChain(chainPem: string): string[] {
  const blocks: string[] = [];
  let current: string[] | null = null;
  for (const rawLine of chainPem.split('\n')) {
    const line = rawLine.trim();
    if (line === '-----BEGIN CERTIFICATE-----') current = [line];
    else if (line === '-----END CERTIFICATE-----' && current) {
      current.push(line);
      blocks.push(`${current.join('\n')}\n`);
      current = null;
    } else if (current) current.push(line);
  }
  return blocks;
}

/** `X509Certificate.issuer` is one `KEY=value` per line. */
function distinguishedName(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0 && !fields.has(line.slice(0, equals))) fields.set(line.slice(0, equals), line.slice(equals + 1));
  }
  return fields;
}

/** DNS names of `X509Certificate.subjectAltName` ("DNS:a, DNS:b"; Node quotes an entry with special characters as a JSON string). */
export function dnsNamesOf(certificate: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (certificate.subjectAltName ?? '').split(', ')) {
    if (!entry.startsWith('DNS:')) continue;
    const value = entry.slice(4);
    names.push(value.startsWith('"') ? String(JSON.parse(value)) : value);
  }
  return names;
}

function parseDate(text: string, what: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new CertificateError('unexpected', `the certificate's ${what} "${text}" is not a date`, { permanent: false });
  return date;
}

function unexpected(message: string): CertificateError {
  return new CertificateError('unexpected', `the CA returned a certificate that cannot be used: ${message}`, { permanent: false });
}

export function readIssuedCertificate(chainPem: string, privateKeyPem: string, keyType: CertificateKeyType, requestedNames: readonly string[]): IssuedCertificate {
  const blocks = splitCertificateChain(chainPem);
  if (blocks.length === 0) throw unexpected('no PEM certificate in the answer');
  let chain: X509Certificate[];
  try {
    chain = blocks.map((block) => new X509Certificate(block));
  } catch (error) {
    throw unexpected(`a certificate of the chain does not parse (${error instanceof Error ? error.message : String(error)})`);
  }
  const [leaf] = chain;
  if (!leaf) throw unexpected('no PEM certificate in the answer');
  if (!leaf.checkPrivateKey(createPrivateKey(privateKeyPem))) throw unexpected("the leaf's public key is not the one of the key it was requested for");
  for (let index = 0; index + 1 < chain.length; index++) {
    const child = chain[index];
    const parent = chain[index + 1];
    if (!child || !parent || !child.checkIssued(parent) || !child.verify(parent.publicKey)) throw unexpected(`certificate ${index} of the chain is not signed by certificate ${index + 1}`);
  }

  const names = dnsNamesOf(leaf);
  const missing = requestedNames.filter((name) => !names.includes(name));
  const extra = names.filter((name) => !requestedNames.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    throw unexpected(`its names differ from the request (missing: ${missing.join(', ') || 'none'}; not asked for: ${extra.join(', ') || 'none'})`);
  }

  const issuerFields = distinguishedName(leaf.issuer);
  const issuer: CertificateIssuer = { commonName: issuerFields.get('CN') ?? null, organization: issuerFields.get('O') ?? null };
  return {
    certificatePem: blocks.join(''),
    privateKeyPem,
    keyType,
    names,
    notBefore: parseDate(leaf.validFrom, 'notBefore'),
    notAfter: parseDate(leaf.validTo, 'notAfter'),
    issuer,
    serialNumber: leaf.serialNumber.toUpperCase(),
    fingerprintSha256: leaf.fingerprint256,
  };
}
