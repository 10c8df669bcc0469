import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Command } from './config';
import { IMAGE_REF, InputError, type InputReader, boolean, hasControlChars, oneOf, required } from './read';

/** HTTPS on the proxy: none, the user's own certificate, or one from an ACME CA that renews itself. */
export type TlsMode = 'off' | 'own' | 'acme';

/** A PEM given in the workflow (sent to the server), or a file that already exists on the server. */
export type PemSource = { kind: 'text'; pem: string } | { kind: 'path'; path: string };

export interface AcmeConfig {
  email: string;
  directory: string;
  eab?: { kid: string; hmac: string };
  /** The ACME server's own HTTPS root, for a private CA (PEM); Let's Encrypt needs none. */
  serverCa?: string;
  image: string; // the lego image of the renewer
}

export interface TlsConfig {
  mode: TlsMode;
  redirect: boolean; // HTTP to HTTPS (never the ACME challenge path)
  certificate?: PemSource; // own
  key?: PemSource; // own
  acme?: AcmeConfig;
}

export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** What is wrong with a PEM certificate chain and key, or undefined when nginx can serve them for every host name. */
export function certificateProblem(chainPem: string, keyPem: string, hostnames: readonly string[], now = new Date()): string | undefined {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) return 'tls-certificate holds no "-----BEGIN CERTIFICATE-----" block';
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]);
    for (const block of blocks.slice(1)) new X509Certificate(block);
  } catch (error) {
    return `tls-certificate cannot be read: ${(error as Error).message}`;
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    return `tls-key cannot be read (an unencrypted PEM private key is needed): ${(error as Error).message}`;
  }
  if (!leaf.checkPrivateKey(key)) return 'tls-key is not the key of the first certificate in tls-certificate';
  if (new Date(leaf.validTo) <= now) return `the certificate expired on ${new Date(leaf.validTo).toISOString().slice(0, 10)}`;
  if (new Date(leaf.validFrom) > now) return `the certificate is not valid before ${new Date(leaf.validFrom).toISOString().slice(0, 10)}`;
  for (const name of hostnames) {
    // A wildcard host name is served for every name under it: one of them stands for all.
    const probe = name.startsWith('*.') ? `bluegreen-check${name.slice(1)}` : name;
    if (leaf.checkHost(probe) === undefined) return `the certificate does not cover the host name ${name} (it is for ${leaf.subjectAltName ?? leaf.subject})`;
  }
  return undefined;
}

export interface CertificateFacts {
  hosts: string[];
  issuer: string;
  notAfter: string; // ISO 8601
  daysLeft: number;
}

/** Issuer, expiry and names of a PEM certificate, for the summary and status. */
export function certificateFacts(pem: string, now = new Date()): CertificateFacts | undefined {
  try {
    const cert = new X509Certificate(pem);
    const issuer = /(?:^|\n)O=([^\n]+)/.exec(cert.issuer)?.[1] ?? /(?:^|\n)CN=([^\n]+)/.exec(cert.issuer)?.[1] ?? cert.issuer;
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.issuer)?.[1];
    const notAfter = new Date(cert.validTo);
    const hosts = (cert.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4));
    return {
      hosts,
      issuer: cn && cn !== issuer ? `${issuer} (${cn})` : issuer,
      notAfter: notAfter.toISOString(),
      daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000),
    };
  } catch {
    return undefined;
  }
}

// The tls inputs, read and checked on the runner.

/** The container port of a --publish spec (80 in 127.0.0.1:8080:80). */
export function publishedContainerPort(spec: string): number {
  return Number(
    spec
      .replace(/\/(tcp|udp)$/, '')
      .split(':')
      .pop(),
  );
}

function pemOrPath(read: InputReader, name: string, label: string): PemSource {
  const value = read(name).trim();
  if (value === '') throw new InputError(name, `is required with tls: own (the ${label} as PEM text from a secret, or the path of a file on the server)`);
  if (value.startsWith('-----BEGIN')) return { kind: 'text', pem: value + '\n' };
  // Never echo it: a pasted key that lost its BEGIN line is still a secret.
  if (!value.startsWith('/') || /\s/.test(value) || hasControlChars(value)) {
    throw new InputError(name, `expected PEM text starting with "-----BEGIN" or an absolute path on the server without spaces`);
  }
  return { kind: 'path', path: value };
}

const ACME_TOKEN = /^[A-Za-z0-9_=+/-]{1,512}$/;

function acmeDirectory(read: InputReader): string {
  const text = read('acme-directory').trim();
  if (text === '' || text === 'production') return LETS_ENCRYPT;
  if (text === 'staging') return LETS_ENCRYPT_STAGING;
  if (!/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?$/.test(text)) {
    throw new InputError('acme-directory', `expected an https:// directory URL, production or staging, got '${text}'`);
  }
  return text;
}

export function readTls(read: InputReader, hostnames: string[], proxyPorts: string[], command: Command): TlsConfig {
  const mode = oneOf(read, 'tls', ['off', 'own', 'acme'] as const);
  const redirect = boolean(read, 'tls-redirect');
  // Only a deploy puts a certificate in place; other commands serve the one there (tls.sh).
  if (mode === 'off' || command !== 'deploy') return { mode, redirect };
  if (!proxyPorts.some((spec) => publishedContainerPort(spec) === 443)) {
    throw new InputError('proxy-ports', `tls: ${mode} needs the proxy's port 443 published: add a line such as 443:443`);
  }
  if (mode === 'own') {
    const certificate = pemOrPath(read, 'tls-certificate', 'certificate chain');
    const key = pemOrPath(read, 'tls-key', 'private key');
    if (certificate.kind === 'text' && key.kind === 'text') {
      const problem = certificateProblem(certificate.pem, key.pem, hostnames);
      if (problem) throw new InputError('tls-certificate', problem);
    }
    return { mode, redirect, certificate, key };
  }
  if (hostnames.length === 0) throw new InputError('hostname', 'tls: acme needs the host names to get a certificate for');
  const wildcard = hostnames.find((name) => name.startsWith('*.'));
  if (wildcard) throw new InputError('hostname', `'${wildcard}' is a wildcard: an ACME HTTP-01 challenge cannot prove it; use tls: own with a wildcard certificate`);
  const email = required(read, 'acme-email');
  if (!/^[^\s@'"\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(email)) throw new InputError('acme-email', `'${email}' is not an email address`);
  const kid = read('acme-eab-kid').trim();
  const hmac = read('acme-eab-hmac').trim();
  if ((kid === '') !== (hmac === '')) throw new InputError(kid ? 'acme-eab-hmac' : 'acme-eab-kid', 'External Account Binding needs both acme-eab-kid and acme-eab-hmac');
  if (kid && !ACME_TOKEN.test(kid)) throw new InputError('acme-eab-kid', 'expected the key identifier your CA gave (letters, digits, - and _)');
  if (hmac && !ACME_TOKEN.test(hmac)) throw new InputError('acme-eab-hmac', 'expected the base64url MAC key your CA gave');
  const serverCa = read('acme-ca-certificate').trim();
  if (serverCa && !/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(serverCa)) {
    throw new InputError('acme-ca-certificate', 'expected PEM text starting with "-----BEGIN CERTIFICATE-----"');
  }
  const image = required(read, 'acme-image');
  if (!IMAGE_REF.test(image)) throw new InputError('acme-image', `'${image}' is not an image reference`);
  return {
    mode,
    redirect,
    acme: { email, directory: acmeDirectory(read), eab: kid ? { kid, hmac } : undefined, serverCa: serverCa ? serverCa + '\n' : undefined, image },
  };
}
