// Host key pinning against a real sshd that has two host keys (Ed25519, which ssh2 prefers, and RSA):
// pinning only the RSA key, by known-hosts or fingerprint, must connect; a revoked key must not.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/inputs/config';
import { SshSession } from '../../src/ssh/session';
import { readerFor } from '../helpers/action-inputs';
import { baseInputs } from '../helpers/fixtures';
import { testServer } from '../helpers/server';

const PORT = 22098;

describe('a server with an Ed25519 and an RSA host key', () => {
  const server = testServer('classic');
  const dir = mkdtempSync(join(tmpdir(), 'bg-hostkeys-'));
  let sshd: ChildProcess;
  const line = (type: 'rsa' | 'ed25519') =>
    `[127.0.0.1]:${PORT} ${readFileSync(join(dir, `host_${type}.pub`), 'utf8')
      .split(' ')
      .slice(0, 2)
      .join(' ')}`;
  const fingerprint = (type: 'rsa' | 'ed25519') => execFileSync('ssh-keygen', ['-lf', join(dir, `host_${type}.pub`)], { encoding: 'utf8' }).split(' ')[1];

  beforeAll(async () => {
    for (const type of ['rsa', 'ed25519']) execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, `host_${type}`)]);
    const authorized = readFileSync(`${server.key}.pub`, 'utf8');
    writeFileSync(join(dir, 'authorized_keys'), authorized, { mode: 0o644 });
    chmodSync(dir, 0o755); // sshd reads authorized_keys as the user
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        'ListenAddress 127.0.0.1',
        `Port ${PORT}`,
        `HostKey ${dir}/host_ed25519`,
        `HostKey ${dir}/host_rsa`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `AllowUsers ${server.user}`,
        '',
      ].join('\n'),
    );
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      try {
        execFileSync('ssh-keyscan', ['-T', '1', '-p', String(PORT), '127.0.0.1'], { stdio: 'pipe' });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error('the test sshd did not start');
  }, 30_000);

  afterAll(() => {
    sshd?.kill(); // by its child handle
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (pin: Record<string, string>): Promise<string> => {
    const config = readConfig(
      readerFor({ ...baseInputs(), host: '127.0.0.1', port: String(PORT), user: server.user, 'ssh-key': readFileSync(server.key, 'utf8'), 'connect-retries': '0', 'known-hosts': '', ...pin }),
    );
    const session = await SshSession.connect(config.hosts[0]);
    try {
      return (await session.exec('echo connected')).stdout.trim();
    } finally {
      session.close();
    }
  };

  it.each([
    ['known-hosts with only the RSA key', () => ({ 'known-hosts': line('rsa') })],
    ['known-hosts with only the Ed25519 key', () => ({ 'known-hosts': line('ed25519') })],
    ['host-fingerprint of the RSA key', () => ({ 'host-fingerprint': fingerprint('rsa') })],
    ['the Ed25519 key revoked, the RSA key pinned', () => ({ 'known-hosts': `@revoked * ${line('ed25519').split(' ').slice(1).join(' ')}\n${line('rsa')}` })],
  ])(
    'connects with %s',
    async (_name, pin) => {
      expect(await connect(pin())).toBe('connected');
    },
    30_000,
  );

  it('refuses when the only pinned key is revoked', async () => {
    const revoked = line('ed25519');
    await expect(connect({ 'known-hosts': `${revoked}\n@revoked ${revoked}` })).rejects.toThrow(/marks @revoked/);
  }, 30_000);

  it('refuses a fingerprint that none of its keys has', async () => {
    await expect(connect({ 'host-fingerprint': 'SHA256:' + 'A'.repeat(43) })).rejects.toThrow(/refusing to connect/);
  }, 30_000);
});
