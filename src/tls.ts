import { X509Certificate, createPrivateKey } from 'node:crypto';

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
    const hosts = (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
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
