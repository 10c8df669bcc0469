// tls-pairs.sh, run by sh as the proxy runs it, with a stand-in nginx on its PATH that loads a pair
// when the file holds both a key and a certificate: each app's 443 block gets its pair, or a refused
// handshake when the pair does not load, and apps whose config no longer asks lose their file.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = join(__dirname, '../../../../src/remote/scripts/proxy/tls-pairs.sh');
let work: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'bluegreen-pairs-'));
  for (const dir of ['bin', 'conf', 'tls/live', 'pairs']) mkdirSync(join(work, dir), { recursive: true });
  // nginx -t -q -c FILE: reads the pair named in FILE; it loads when it has a key and a certificate.
  writeFileSync(join(work, 'bin/nginx'), '#!/bin/sh\npair=$(sed -n "s/.*ssl_certificate \\([^;]*\\);.*/\\1/p" "$4")\ngrep -q "PRIVATE KEY" "$pair" 2>/dev/null && grep -q "CERTIFICATE" "$pair"\n');
  chmodSync(join(work, 'bin/nginx'), 0o755);
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const app = (name: string, pair?: string) => {
  writeFileSync(join(work, `conf/${name}.conf`), `server {\n    listen 443 ssl;\n    include ${join(work, 'pairs')}/${name}.conf;\n}\n`);
  if (pair === undefined) return;
  mkdirSync(join(work, `tls/live/${name}`), { recursive: true });
  writeFileSync(join(work, `tls/live/${name}/pair.pem`), pair);
};
const run = () => spawnSync('sh', [SCRIPT, join(work, 'tls'), join(work, 'pairs'), join(work, 'conf')], { encoding: 'utf8', env: { PATH: `${join(work, 'bin')}:/usr/bin:/bin` } });
const chosen = (name: string) => readFileSync(join(work, `pairs/${name}.conf`), 'utf8');
const PAIR = '-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n\n-----BEGIN CERTIFICATE-----\nc\n-----END CERTIFICATE-----\n';

describe('tls-pairs.sh', () => {
  it('gives each app its pair, and a refused handshake to one whose pair is missing or broken', () => {
    app('shop', PAIR);
    app('blog'); // its pair.pem removed by hand
    app('docs', '-----BEGIN CERTIFICATE-----\nc\n-----END CERTIFICATE-----\n'); // no key
    writeFileSync(join(work, 'conf/plain.conf'), 'server { listen 80; }\n');
    const r = run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['unloadable blog', 'unloadable docs']);
    const pair = join(work, 'tls/live/shop/pair.pem');
    expect(chosen('shop')).toBe(`ssl_certificate ${pair};\nssl_certificate_key ${pair};\n`);
    expect(chosen('blog')).toBe('ssl_reject_handshake on;\n');
    expect(chosen('docs')).toBe('ssl_reject_handshake on;\n');
    expect(existsSync(join(work, 'pairs/plain.conf'))).toBe(false);
  });

  it('gives a pair back once it loads again, and drops the file of an app whose config is gone', () => {
    app('shop', PAIR);
    app('blog');
    run();
    writeFileSync(join(work, 'tls/live/shop/pair.pem'), 'garbage');
    mkdirSync(join(work, 'tls/live/blog'));
    writeFileSync(join(work, 'tls/live/blog/pair.pem'), PAIR);
    let r = run();
    expect(r.stdout).toBe('unloadable shop\n');
    expect(chosen('blog')).toContain('ssl_certificate ');
    rmSync(join(work, 'conf/shop.conf'));
    r = run();
    expect(r.stdout).toBe('');
    expect(existsSync(join(work, 'pairs/shop.conf'))).toBe(false);
    expect(existsSync(join(work, 'pairs/blog.conf'))).toBe(true);
  });
});
