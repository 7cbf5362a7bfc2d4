import { createHash } from 'node:crypto';

/**
 * A server's pinned SSH host key, as an OpenSSH public key line ("ssh-ed25519 AAAA... comment",
 * what `ssh-keyscan` or `/etc/ssh/ssh_host_ed25519_key.pub` shows). Parsed without the SSH
 * library so the servers module can validate input with it.
 */
export const hostKeyTypes = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
export type HostKeyType = (typeof hostKeyTypes)[number];

export interface PinnedHostKey {
  readonly type: HostKeyType;
  /** The key blob, byte for byte what the server sends during key exchange. */
  readonly blob: Buffer;
}

const LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: [^\r\n]*)?$/;

function isHostKeyType(value: string): value is HostKeyType {
  return (hostKeyTypes as readonly string[]).includes(value);
}

export function parseHostKey(line: string): PinnedHostKey | null {
  const match = LINE.exec(line.trim());
  if (!match?.[1] || !match[2] || !isHostKeyType(match[1])) return null;
  const blob = Buffer.from(match[2], 'base64');
  if (blob.toString('base64') !== match[2] || blob.length < 8) return null;
  // The blob starts with its own type name (uint32 length + string); it must agree with the line's.
  const nameLength = blob.readUInt32BE(0);
  if (nameLength + 4 > blob.length || blob.subarray(4, 4 + nameLength).toString('latin1') !== match[1]) return null;
  return { type: match[1], blob };
}

/** "SHA256:..." as `ssh-keygen -lf` prints it. */
export function hostKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
