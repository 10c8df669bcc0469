import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway certificate authority made by openssl, and certificates it signs. */
export interface TestCa {
  dir: string;
  certPath: string;
  cert: string;
}

export interface TestLeaf {
  cert: string; // leaf then the CA: a chain as a server sends it
  key: string;
  certPath: string;
  keyPath: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export function makeCa(name = 'bluegreen test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'bg-ca-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', `/O=${name}/CN=${name}`], dir);
  // openssl ca (not x509 -req): OpenSSL 3.0 can set a certificate's start and end dates only there.
  writeFileSync(
    join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = test\n[test]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\ncertificate = ca.pem\nprivate_key = ca.key\nserial = serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n',
  );
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  return { dir, certPath: join(dir, 'ca.pem'), cert: readFileSync(join(dir, 'ca.pem'), 'utf8') };
}

/** A certificate for `hosts` signed by `ca`, valid from `startDaysAgo` for `days` (negative end: expired). */
export function makeLeaf(ca: TestCa, file: string, hosts: string[], options: { days?: number; startDaysAgo?: number } = {}): TestLeaf {
  const { dir } = ca;
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${hosts[0]}`], dir);
  writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\n`);
  const start = new Date(Date.now() - (options.startDaysAgo ?? 1) * 86_400_000);
  const end = new Date(start.getTime() + (options.days ?? 30) * 86_400_000);
  const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  openssl(['ca', '-batch', '-notext', '-config', 'ca.cnf', '-in', `${file}.csr`, '-out', `${file}.crt`, '-extfile', `${file}.ext`, '-startdate', stamp(start), '-enddate', stamp(end)], dir);
  const chain = readFileSync(join(dir, `${file}.crt`), 'utf8') + ca.cert;
  writeFileSync(join(dir, `${file}.chain.pem`), chain);
  return { cert: chain, key: readFileSync(join(dir, `${file}.key`), 'utf8'), certPath: join(dir, `${file}.chain.pem`), keyPath: join(dir, `${file}.key`) };
}
