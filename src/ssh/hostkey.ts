import { createHash, createHmac } from 'node:crypto';

/** How the server's host key is checked before anything is sent. */
export type HostKeyPolicy = { kind: 'known-hosts'; entries: KnownHostEntry[] } | { kind: 'fingerprint'; fingerprint: string } | { kind: 'insecure' };

export interface KnownHostEntry {
  hostPatterns: string; // as written: "host,[host]:2222" or a hashed "|1|salt|hash"
  keyType: string;
  key: Buffer; // the public key blob
  revoked?: boolean; // an @revoked line: this key is refused, whatever else pins it
}

const KEY_TYPES = /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/** Parses known_hosts lines; comments and blank lines are skipped, and @cert-authority lines (not supported). */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    let line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@cert-authority')) return;
    const revoked = line.startsWith('@revoked');
    if (revoked) line = line.slice('@revoked'.length).trim();
    else if (line.startsWith('@')) throw new Error(`line ${index + 1} has an unknown marker ${line.split(/\s/)[0]}`);
    const [hostPatterns, keyType, keyText] = line.split(/\s+/);
    if (!keyText || !KEY_TYPES.test(keyType) || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyText)) {
      throw new Error(`line ${index + 1} is not "${revoked ? '@revoked ' : ''}HOSTS KEYTYPE BASE64KEY"`);
    }
    entries.push({ hostPatterns, keyType, key: Buffer.from(keyText, 'base64'), ...(revoked ? { revoked } : {}) });
  });
  return entries;
}

/** The host key algorithms ssh2 can negotiate for each known_hosts key type. */
const ALGORITHMS_OF_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/** Host key algorithm families to offer one at a time when only a fingerprint is pinned. */
export const HOST_KEY_FAMILIES: readonly string[][] = [['ssh-ed25519'], ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'], ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']];

/**
 * The host key algorithms to offer: those of the keys known-hosts pins for this host, so a server
 * that also has a key of a type ssh2 prefers (ed25519) shows the pinned one. Undefined: ssh2's own.
 */
export function hostKeyAlgorithms(policy: HostKeyPolicy, host: string, port: number): string[] | undefined {
  if (policy.kind !== 'known-hosts') return undefined;
  const pinned = policy.entries.filter((entry) => !entry.revoked && entryMatchesHost(entry, host, port));
  const algorithms = [...new Set(pinned.flatMap((entry) => ALGORITHMS_OF_KEY_TYPE[entry.keyType] ?? []))];
  return algorithms.length > 0 ? algorithms : undefined;
}

/** OpenSSH's fingerprint of a public key blob: "SHA256:" and unpadded base64. */
export function fingerprintOf(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The name known_hosts uses for a host: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatches(pattern: string, name: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 'i').test(name);
}

function hashedMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split('|');
  if (!salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hostPatterns.startsWith('|1|')) return hashedMatches(entry.hostPatterns, name);
  let matched = false;
  for (const pattern of entry.hostPatterns.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatches(pattern.slice(1), name)) return false;
    } else if (globMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict = { ok: true } | { ok: false; reason: string };

/** Decides whether the key the server presented is the pinned one. */
export function verifyHostKey(policy: HostKeyPolicy, host: string, port: number, key: Buffer): HostKeyVerdict {
  const presented = fingerprintOf(key);
  switch (policy.kind) {
    case 'insecure':
      return { ok: true };
    case 'fingerprint':
      return policy.fingerprint === presented ? { ok: true } : { ok: false, reason: `the server presented host key ${presented}, but host-fingerprint pins ${policy.fingerprint}` };
    case 'known-hosts': {
      if (policy.entries.some((entry) => entry.revoked && entry.key.equals(key))) {
        return { ok: false, reason: `the server presented host key ${presented}, which known-hosts marks @revoked` };
      }
      const forHost = policy.entries.filter((entry) => !entry.revoked && entryMatchesHost(entry, host, port));
      if (forHost.length === 0) {
        return { ok: false, reason: `known-hosts has no key for ${knownHostsName(host, port)} (the server presented ${presented})` };
      }
      return forHost.some((entry) => entry.key.equals(key))
        ? { ok: true }
        : { ok: false, reason: `the server presented host key ${presented}, which is not the one known-hosts pins for ${knownHostsName(host, port)}` };
    }
  }
}
