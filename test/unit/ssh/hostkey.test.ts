import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, hostKeyAlgorithms, parseKnownHosts, verifyHostKey } from '../../../src/ssh/hostkey';
import { fixtureKey } from '../../helpers/fixtures';

const [type, base64] = fixtureKey('ed25519.pub').split(' ');
const key = Buffer.from(base64, 'base64');
const otherKey = Buffer.from(fixtureKey('rsa_pem.pub').split(' ')[1], 'base64');

describe('host key pinning', () => {
  it('computes the fingerprint ssh-keygen prints', () => {
    const printed = execFileSync('ssh-keygen', ['-lf', join(__dirname, '../../fixtures/ed25519.pub')], { encoding: 'utf8' }).split(' ')[1];
    expect(fingerprintOf(key)).toBe(printed);
  });

  it('accepts the pinned key and refuses any other, for known-hosts and fingerprints', () => {
    const entries = parseKnownHosts(`# comment\n\n[10.0.0.5]:2222 ${type} ${base64}\n`);
    expect(verifyHostKey({ kind: 'known-hosts', entries }, '10.0.0.5', 2222, key)).toEqual({ ok: true });
    const wrong = verifyHostKey({ kind: 'known-hosts', entries }, '10.0.0.5', 2222, otherKey);
    expect(wrong.ok).toBe(false);
    expect(!wrong.ok && wrong.reason).toContain('not the one known-hosts pins');
    expect(verifyHostKey({ kind: 'fingerprint', fingerprint: fingerprintOf(key) }, 'h', 22, key)).toEqual({ ok: true });
    expect(verifyHostKey({ kind: 'fingerprint', fingerprint: fingerprintOf(key) }, 'h', 22, otherKey).ok).toBe(false);
  });

  it('needs an entry for this very host and port', () => {
    const entries = parseKnownHosts(`10.0.0.5 ${type} ${base64}`);
    expect(verifyHostKey({ kind: 'known-hosts', entries }, '10.0.0.5', 22, key).ok).toBe(true);
    const otherPort = verifyHostKey({ kind: 'known-hosts', entries }, '10.0.0.5', 2222, key);
    expect(!otherPort.ok && otherPort.reason).toContain('no key for [10.0.0.5]:2222');
  });

  it('matches patterns, negations and hashed host names', () => {
    const patterns = parseKnownHosts(`*.example.com,!bad.example.com ${type} ${base64}`);
    expect(verifyHostKey({ kind: 'known-hosts', entries: patterns }, 'web.example.com', 22, key).ok).toBe(true);
    expect(verifyHostKey({ kind: 'known-hosts', entries: patterns }, 'bad.example.com', 22, key).ok).toBe(false);
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('srv.example.com').digest('base64');
    const hashed = parseKnownHosts(`|1|${salt.toString('base64')}|${hash} ${type} ${base64}`);
    expect(verifyHostKey({ kind: 'known-hosts', entries: hashed }, 'srv.example.com', 22, key).ok).toBe(true);
    expect(verifyHostKey({ kind: 'known-hosts', entries: hashed }, 'other.example.com', 22, key).ok).toBe(false);
  });

  it('accepts anything only when told to skip the check', () => {
    expect(verifyHostKey({ kind: 'insecure' }, 'h', 22, otherKey)).toEqual({ ok: true });
  });
});

describe('@revoked and the pinned key types (issue 11, defect 9)', () => {
  const rsaBase64 = fixtureKey('rsa_pem.pub').split(' ')[1];

  it('refuses a key marked @revoked, even when another line pins it', () => {
    const entries = parseKnownHosts(`srv ${type} ${base64}\n@revoked * ${type} ${base64}\n`);
    const verdict = verifyHostKey({ kind: 'known-hosts', entries }, 'srv', 22, key);
    expect(verdict).toEqual({ ok: false, reason: expect.stringContaining('marks @revoked') });
  });

  it('still accepts another pinned key of the host when one is revoked', () => {
    const entries = parseKnownHosts(`@revoked srv ${type} ${base64}\nsrv ssh-rsa ${rsaBase64}\n`);
    expect(verifyHostKey({ kind: 'known-hosts', entries }, 'srv', 22, otherKey)).toEqual({ ok: true });
  });

  it('refuses an unknown marker instead of skipping the line', () => {
    expect(() => parseKnownHosts(`@trusted srv ${type} ${base64}`)).toThrow(/unknown marker @trusted/);
    expect(parseKnownHosts(`@cert-authority *.example.com ${type} ${base64}`)).toEqual([]);
  });

  it.each([
    [`srv ssh-rsa ${rsaBase64}`, ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']],
    [`srv ${type} ${base64}`, ['ssh-ed25519']],
    [`srv ssh-rsa ${rsaBase64}\nsrv ${type} ${base64}`, ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']],
    [`other ${type} ${base64}\nsrv ssh-rsa ${rsaBase64}`, ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']],
    [`@revoked srv ${type} ${base64}\nsrv ssh-rsa ${rsaBase64}`, ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']],
    [`other ${type} ${base64}`, undefined],
  ])('offers the host key algorithms of what known-hosts pins for srv: %s', (text, expected) => {
    expect(hostKeyAlgorithms({ kind: 'known-hosts', entries: parseKnownHosts(text) }, 'srv', 22)).toEqual(expected);
  });

  it('leaves the choice to ssh2 for a fingerprint or no check', () => {
    expect(hostKeyAlgorithms({ kind: 'fingerprint', fingerprint: fingerprintOf(key) }, 'srv', 22)).toBeUndefined();
    expect(hostKeyAlgorithms({ kind: 'insecure' }, 'srv', 22)).toBeUndefined();
  });
});
