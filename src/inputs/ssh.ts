// The connection inputs: hosts, user and port, the key, the pinned host keys, the jump host, the limits.
import { utils as sshUtils } from 'ssh2';
import { type HostKeyPolicy, parseKnownHosts } from '../ssh/hostkey';
import type { SshConfig } from '../ssh/session';
import type { Config } from './config';
import { type HostTarget, USER_NAME, parseHosts } from './hosts';
import { InputError, type InputReader, boolean, duration, integer, required } from './read';

export function readSsh(read: InputReader): SshConfig[] {
  const user = required(read, 'user');
  if (!USER_NAME.test(user)) throw new InputError('user', `'${user}' is not a valid user name`);
  const port = integer(read, 'port', 1, 65535);
  let targets: HostTarget[];
  try {
    targets = parseHosts(required(read, 'host'), { user, port });
  } catch (error) {
    throw new InputError('host', (error as Error).message);
  }
  if (targets.length === 0) throw new InputError('host', 'names no host');
  const passphrase = read('ssh-key-passphrase') || undefined;
  const privateKey = readPrivateKey(read, 'ssh-key', passphrase);

  const knownHosts = read('known-hosts').trim();
  const fingerprint = read('host-fingerprint').trim();
  const insecure = boolean(read, 'insecure-skip-host-key-check');
  let hostKey: HostKeyPolicy;
  if (knownHosts !== '') {
    hostKey = knownHostsPolicy(read, 'known-hosts');
  } else if (fingerprint !== '') {
    if (targets.length > 1)
      throw new InputError('host-fingerprint', `pins one host key, and ${targets.length} hosts are given: give known-hosts with a line per host (ssh-keyscan -p PORT HOST for each)`);
    if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(fingerprint)) {
      throw new InputError('host-fingerprint', `expected 'SHA256:' and 43 base64 characters (as ssh-keygen -lf prints), got '${fingerprint}'`);
    }
    hostKey = { kind: 'fingerprint', fingerprint: fingerprint.replace(/=$/, '') };
  } else if (insecure) {
    hostKey = { kind: 'insecure' };
  } else {
    throw new InputError(
      'known-hosts',
      "the server's host key is not pinned: give known-hosts (e.g. from ssh-keyscan) or host-fingerprint, or set insecure-skip-host-key-check: true for a throwaway server",
    );
  }
  const limits = { connectTimeoutSeconds: duration(read, 'connect-timeout', 1), connectRetries: integer(read, 'connect-retries', 0, 20) };
  const jump = readJump(read, { user, privateKey, passphrase, hostKey }, limits);
  return targets.map(({ host, port, user }) => ({ host, port, user, privateKey, passphrase, hostKey, ...limits, jump }));
}

/** A private key input: present, PEM-shaped, readable (with the passphrase); with a final newline. */
function readPrivateKey(read: InputReader, name: string, passphrase: string | undefined): string {
  const privateKey = read(name).trim();
  if (privateKey === '') throw new InputError(name, 'is required and was not given');
  if (!/PRIVATE KEY-----/.test(privateKey)) {
    throw new InputError(name, 'does not look like a private key (expected a "-----BEGIN ... PRIVATE KEY-----" block)');
  }
  const parsed = sshUtils.parseKey(privateKey + '\n', passphrase);
  if (parsed instanceof Error) {
    const hint = !/encrypted|passphrase/i.test(parsed.message) ? '' : name === 'ssh-key' ? ' (is ssh-key-passphrase right?)' : ' (it must not be encrypted)';
    throw new InputError(name, `cannot be read: ${parsed.message}${hint}`);
  }
  return privateKey + '\n';
}

function knownHostsPolicy(read: InputReader, name: string): HostKeyPolicy {
  try {
    const entries = parseKnownHosts(read(name).trim());
    if (entries.length === 0) throw new Error('it holds no key');
    return { kind: 'known-hosts', entries };
  } catch (error) {
    throw new InputError(name, (error as Error).message);
  }
}

/**
 * proxy-jump: user@host:port of a bastion every connection goes through; its key is proxy-jump-key
 * (else ssh-key), its host key pinned by proxy-jump-known-hosts (else the servers' own pinning).
 */
function readJump(
  read: InputReader,
  servers: { user: string; privateKey: string; passphrase?: string; hostKey: HostKeyPolicy },
  limits: { connectTimeoutSeconds: number; connectRetries: number },
): SshConfig | undefined {
  const text = read('proxy-jump').trim();
  if (text === '') return undefined;
  let targets: HostTarget[];
  try {
    targets = parseHosts(text, { user: servers.user, port: 22 });
  } catch (error) {
    throw new InputError('proxy-jump', (error as Error).message);
  }
  if (targets.length !== 1) throw new InputError('proxy-jump', 'names one jump host (user@host:port)');
  const ownKey = read('proxy-jump-key').trim() !== '';
  let hostKey = servers.hostKey;
  if (read('proxy-jump-known-hosts').trim() !== '') hostKey = knownHostsPolicy(read, 'proxy-jump-known-hosts');
  else if (hostKey.kind === 'fingerprint')
    throw new InputError('proxy-jump-known-hosts', "pins the jump host's key, which host-fingerprint (the server's) cannot: give its known_hosts line (ssh-keyscan -p PORT HOST)");
  return {
    ...targets[0],
    privateKey: ownKey ? readPrivateKey(read, 'proxy-jump-key', undefined) : servers.privateKey,
    passphrase: ownKey ? undefined : servers.passphrase,
    hostKey,
    ...limits,
  };
}

/** Every host whose key is not checked (insecure-skip-host-key-check), the jump host named as such. */
export function uncheckedHosts(config: Pick<Config, 'hosts'>): string[] {
  const servers = config.hosts.filter((h) => h.hostKey.kind === 'insecure').map((h) => h.host);
  const jump = config.hosts[0].jump;
  return jump?.hostKey.kind === 'insecure' ? [...servers, `the jump host ${jump.host}`] : servers;
}
