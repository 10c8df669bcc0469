import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { renderSummary, stepOutputs, type RunReport } from '../../../src/report/report';
import { certificateFacts, certificateProblem } from '../../../src/inputs/tls';
import { readerFor } from '../../helpers/action-inputs';
import { makeCa, makeLeaf } from '../../helpers/certs';
import { inputErrorOf as inputErrorFrom } from '../../helpers/input-error';
import { baseInputs } from '../../helpers/fixtures';

const ca = makeCa();
const shop = makeLeaf(ca, 'shop', ['shop.example.com', 'www.example.com']);
const wildcard = makeLeaf(ca, 'wild', ['*.preview.example.com']);
const expired = makeLeaf(ca, 'old', ['shop.example.com'], { startDaysAgo: 40, days: 30 });
const other = makeLeaf(ca, 'other', ['shop.example.com']);

describe('certificateProblem', () => {
  it.each([
    ['a matching pair for every host name', shop.cert, shop.key, ['shop.example.com', 'www.example.com'], undefined],
    ['a wildcard certificate for a wildcard host name', wildcard.cert, wildcard.key, ['*.preview.example.com', 'pr-7.preview.example.com'], undefined],
    ['no certificate at all', 'hello', shop.key, [], 'holds no'],
    ['a broken certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', shop.key, [], 'cannot be read'],
    ['a key that is not PEM', shop.cert, 'nope', [], 'tls-key cannot be read'],
    ["another certificate's key", shop.cert, other.key, [], 'not the key of the first certificate'],
    ['an expired certificate', expired.cert, expired.key, [], 'expired on'],
    ['a host name it does not cover', shop.cert, shop.key, ['api.example.com'], 'does not cover the host name api.example.com'],
  ])('%s', (_name, cert, key, hosts, problem) => {
    const found = certificateProblem(cert, key, hosts);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});

describe('certificateFacts', () => {
  it('reads the names, the issuer and the days left', () => {
    const facts = certificateFacts(shop.cert, new Date(Date.now() + 86_400_000 * 10));
    expect(facts).toMatchObject({ hosts: ['shop.example.com', 'www.example.com'], issuer: 'bluegreen test CA' });
    expect(facts?.daysLeft).toBeGreaterThanOrEqual(18);
    expect(facts?.daysLeft).toBeLessThanOrEqual(19);
  });
  it('is undefined for text that is no certificate', () => expect(certificateFacts('nope')).toBeUndefined());
});

const read = (given: Record<string, string>) => readConfig(readerFor({ ...baseInputs(), hostname: 'shop.example.com', ...given }));

const inputErrorOf = (given: Record<string, string>) => inputErrorFrom(() => read(given));

describe('TLS inputs', () => {
  const acme = { tls: 'acme', 'acme-email': 'ops@example.com' };
  it('is off by default, and the proxy publishes 443 from the start', () => {
    const config = read({});
    expect(config.deploy.tls).toEqual({ mode: 'off', redirect: true });
    expect(config.deploy.proxyPorts).toEqual(['80:80', '443:443']);
  });

  it('takes the own certificate as text, checked on the runner, its key a secret', () => {
    const config = read({ tls: 'own', hostname: 'shop.example.com', 'tls-certificate': shop.cert, 'tls-key': shop.key });
    expect(config.deploy.tls.certificate).toEqual({ kind: 'text', pem: shop.cert.trim() + '\n' });
    expect(config.secrets).toContain(shop.key.trim());
  });

  it('takes paths on the server as they are', () => {
    const config = read({ tls: 'own', 'tls-certificate': '/etc/ssl/shop.pem', 'tls-key': '/etc/ssl/private/shop.key' });
    expect(config.deploy.tls).toMatchObject({ certificate: { kind: 'path', path: '/etc/ssl/shop.pem' }, key: { kind: 'path', path: '/etc/ssl/private/shop.key' } });
  });

  it('fills in the ACME defaults and knows staging', () => {
    expect(read(acme).deploy.tls.acme).toEqual({
      email: 'ops@example.com',
      directory: 'https://acme-v02.api.letsencrypt.org/directory',
      eab: undefined,
      serverCa: undefined,
      image: 'goacme/lego:v4.19.2',
    });
    expect(read({ ...acme, 'acme-directory': 'staging' }).deploy.tls.acme?.directory).toBe('https://acme-staging-v02.api.letsencrypt.org/directory');
    const eab = read({ ...acme, 'acme-eab-kid': 'kid_1', 'acme-eab-hmac': 'c2VjcmV0LWhtYWM' });
    expect(eab.deploy.tls.acme?.eab).toEqual({ kid: 'kid_1', hmac: 'c2VjcmV0LWhtYWM' });
    expect(eab.secrets).toContain('c2VjcmV0LWhtYWM');
  });

  it.each([
    [{ tls: 'maybe' }, 'tls', 'off, own, acme'],
    [{ tls: 'own', 'proxy-ports': '80:80' }, 'proxy-ports', 'port 443 published'],
    [{ tls: 'own', 'tls-key': '/k' }, 'tls-certificate', 'is required with tls: own'],
    [{ tls: 'own', 'tls-certificate': '/c' }, 'tls-key', 'is required with tls: own'],
    [{ tls: 'own', 'tls-certificate': 'relative.pem', 'tls-key': '/k' }, 'tls-certificate', 'absolute path'],
    [{ tls: 'own', 'tls-certificate': shop.cert, 'tls-key': other.key }, 'tls-certificate', 'not the key'],
    [{ tls: 'own', 'tls-certificate': expired.cert, 'tls-key': expired.key }, 'tls-certificate', 'expired'],
    [{ tls: 'own', hostname: 'api.example.com', 'tls-certificate': shop.cert, 'tls-key': shop.key }, 'tls-certificate', 'does not cover'],
    [{ ...acme, hostname: '' }, 'hostname', 'needs the host names'],
    [{ ...acme, hostname: '*.example.com' }, 'hostname', 'wildcard'],
    [{ tls: 'acme' }, 'acme-email', 'is required'],
    [{ ...acme, 'acme-email': 'ops' }, 'acme-email', 'not an email'],
    [{ ...acme, 'acme-directory': 'http://ca.example.com/dir' }, 'acme-directory', 'https://'],
    [{ ...acme, 'acme-eab-kid': 'kid' }, 'acme-eab-hmac', 'needs both'],
    [{ ...acme, 'acme-eab-kid': 'k i d', 'acme-eab-hmac': 'x' }, 'acme-eab-kid', 'key identifier'],
    [{ ...acme, 'acme-ca-certificate': 'root.pem' }, 'acme-ca-certificate', 'PEM'],
    [{ ...acme, 'acme-image': 'bad image' }, 'acme-image', 'not an image reference'],
    [{ 'tls-redirect': 'sometimes' }, 'tls-redirect', 'true or false'],
  ])('%o is refused, naming %s', (given, input, words) => {
    const error = inputErrorOf(given);
    expect(error.input).toBe(input);
    expect(error.message).toContain(words);
  });

  it('never echoes a key given where a path belongs', () => {
    const error = inputErrorOf({ tls: 'own', 'tls-certificate': '/c', 'tls-key': 'MIIEvQIBADANBgkqhkiG9w0BAQ' });
    expect(error.message).not.toContain('MIIEvQ');
  });
});

describe('the certificate in the summary and outputs', () => {
  const report = (renewal: string | null): RunReport => ({
    command: 'deploy',
    app: 'shop',
    host: 'srv',
    image: 'shop:1',
    phasesSeconds: {},
    totalSeconds: 3,
    remote: {
      command: 'deploy',
      app: 'shop',
      outcome: 'switched',
      exitCode: 0,
      error: null,
      failedPhase: null,
      previousSlot: 'blue',
      activeSlot: 'green',
      candidate: 'shop-green',
      imageId: null,
      health: [],
      phasesMs: {},
      totalMs: 1,
      logTail: null,
      live: null,
      history: [],
      certificate: { pem: shop.cert, renewal },
    },
  });

  it('shows hosts, issuer, expiry and the last renewal', () => {
    const summary = renderSummary(report('ok 2026-11-22T10:00:00Z certificate for shop.example.com obtained (run)'));
    expect(summary).toMatch(/\| \*\*Certificate\*\* \| shop\.example\.com, www\.example\.com: bluegreen test CA, expires \d{4}-\d\d-\d\d \(2\d days left\) · last renewal: ok 2026-11-22T10:00:00Z/);
    const output = JSON.parse(stepOutputs(report(null)).certificate);
    expect(output).toMatchObject({ hosts: ['shop.example.com', 'www.example.com'], issuer: 'bluegreen test CA', renewal: null });
  });

  it('warns when the last renewal failed', () => {
    expect(renderSummary(report('error 2026-11-22T10:00:00Z lego renew failed: connection refused'))).toContain('| **Certificate** | ⚠️ shop.example.com');
  });
});
