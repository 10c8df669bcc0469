// The renewer's script (src/remote/scripts/renew.sh) run by sh with a stand-in lego on its PATH: when it asks
// the CA, what it installs, how it retries, and how it stops. The real lego and CA: test/e2e/https.test.ts.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const RENEW_SH = join(__dirname, '../../../../src/remote/scripts/renew.sh');

// Logs "SECONDS VERB" per call; fails while the file fail-count holds a number above 0 (counting it
// down), or as a CA that lost the account when account-lost exists and the account does; else writes
// a certificate for the first --domains as lego would.
const FAKE_LEGO = `#!/bin/sh
dir=$(dirname "$0")
echo "$*" >>"$dir/args"
verb='' first='' path=''
while [ $# -gt 0 ]; do
  case $1 in
    run|renew) verb=$1 ;;
    --domains) first=\${first:-$2}; shift ;;
    --path) path=$2; shift ;;
  esac
  shift
done
echo "$(date +%s.%N) $verb" >>"$dir/calls"
if [ -f "$dir/account-lost" ] && [ -d "$path/accounts/ca.test/ops@example.test" ]; then
  echo "acme: error: 400 :: urn:ietf:params:acme:error:accountDoesNotExist :: Account https://ca.test/acct/1 not found." >&2; exit 1
fi
n=$(cat "$dir/fail-count" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$dir/fail-count"; echo "acme: error: 503 :: the CA is down" >&2; exit 1; fi
mkdir -p "$path/certificates"
echo "certificate $(cat "$dir/calls" | wc -l)" >"$path/certificates/$first.crt"
echo "key" >"$path/certificates/$first.key"
`;

let work = '';
let child: ChildProcess | undefined;

function setUp(failures: number): { tls: string; bin: string } {
  work = mkdtempSync(join(tmpdir(), 'bg-renew-'));
  const tls = join(work, 'tls');
  const bin = join(work, 'bin');
  mkdirSync(join(tls, 'apps'), { recursive: true });
  mkdirSync(bin);
  writeFileSync(join(tls, 'apps', 'shop.env'), "DOMAINS='shop.test www.shop.test'\nEMAIL='ops@example.test'\nSERVER='https://ca.test/dir'\nEAB_KID=''\nEAB_HMAC=''\n");
  writeFileSync(join(bin, 'lego'), FAKE_LEGO);
  chmodSync(join(bin, 'lego'), 0o755);
  writeFileSync(join(bin, 'fail-count'), `${failures}\n`);
  return { tls, bin };
}

const env = (tls: string, bin: string, extra: Record<string, string> = {}) => ({ PATH: `${bin}:${process.env.PATH}`, BG_TLS_DIR: tls, BG_RENEW_SPREAD: '0', ...extra });

function calls(bin: string): Array<{ at: number; verb: string }> {
  if (!existsSync(join(bin, 'calls'))) return [];
  return readFileSync(join(bin, 'calls'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [at, verb] = line.split(' ');
      return { at: Number(at), verb };
    });
}

afterEach(() => {
  // The loop's own process group (its sleep may outlive a TERM by a few seconds).
  if (child?.pid)
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  child = undefined;
  rmSync(work, { recursive: true, force: true });
});

describe('renew.sh pass', () => {
  it('gets a certificate when there is none, renews it when there is, and asks for one reload per change', () => {
    const { tls, bin } = setUp(0);
    const first = spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin), encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/renew: shop: changed\n.*renew: asked the proxy to reload nginx\n$/);
    expect(readFileSync(join(tls, 'live/shop/fullchain.pem'), 'utf8')).toBe('certificate 1\n');
    // What nginx reads: key and chain in one file, so that one rename replaces both.
    const key = readFileSync(join(tls, 'live/shop/key.pem'), 'utf8');
    expect(readFileSync(join(tls, 'live/shop/pair.pem'), 'utf8')).toBe(`${key}\ncertificate 1\n`);
    expect(statSync(join(tls, 'live/shop/pair.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(tls, 'live/shop/domains'), 'utf8')).toBe('shop.test www.shop.test\n');
    expect(readFileSync(join(tls, 'reload'), 'utf8')).toBe('1\n');
    expect(readFileSync(join(tls, 'status/shop'), 'utf8')).toMatch(/^ok \S+ certificate for shop.test www.shop.test obtained \(run\)\n$/);

    const second = spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin), encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(calls(bin).map((c) => c.verb)).toEqual(['run', 'renew']);
    expect(readFileSync(join(tls, 'reload'), 'utf8')).toBe('2\n');
  });

  it("a failure is recorded with lego's last words, keeps the certificate in place, asks for no reload and exits 1", () => {
    const { tls, bin } = setUp(0);
    spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin) });
    writeFileSync(join(bin, 'fail-count'), '1\n');
    const failed = spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin), encoding: 'utf8' });
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('shop: failed (tried again in 3600s)');
    expect(failed.stdout).not.toContain('reload');
    expect(readFileSync(join(tls, 'status/shop'), 'utf8')).toMatch(/^error \S+ lego renew failed: acme: error: 503 :: the CA is down \n$/);
    expect(readFileSync(join(tls, 'live/shop/fullchain.pem'), 'utf8')).toBe('certificate 1\n');
    expect(readFileSync(join(tls, 'reload'), 'utf8')).toBe('1\n');
  });
});

describe('renew.sh with a CA that no longer knows the account', () => {
  /** A certificate in place (one pass) and lego's account for ops@example.test at ca.test. */
  function withCertificateAndAccount(): { tls: string; bin: string; account: string } {
    const { tls, bin } = setUp(0);
    spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin) });
    const account = join(tls, 'lego/accounts/ca.test/ops@example.test');
    mkdirSync(account, { recursive: true });
    writeFileSync(join(account, 'account.json'), '{}');
    return { tls, bin, account };
  }

  it('moves the account aside, registers anew (lego run) and gets the certificate, in the same pass', () => {
    const { tls, bin, account } = withCertificateAndAccount();
    writeFileSync(join(bin, 'account-lost'), '');
    const pass = spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin), encoding: 'utf8' });
    expect(pass.status, pass.stdout + pass.stderr).toBe(0);
    expect(pass.stderr).toContain('shop: the CA does not know the account of ops@example.test any more; registering a new one');
    expect(pass.stdout).toContain('shop: changed');
    expect(calls(bin).map((c) => c.verb)).toEqual(['run', 'renew', 'run']);
    expect(existsSync(`${account}.lost/account.json`)).toBe(true);
  });

  it('other failures leave the account alone', () => {
    const { tls, bin, account } = withCertificateAndAccount();
    writeFileSync(join(bin, 'fail-count'), '1\n');
    expect(spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin) }).status).toBe(1);
    expect(calls(bin).map((c) => c.verb)).toEqual(['run', 'renew']);
    expect(existsSync(account)).toBe(true);
  });
});

describe('renew.sh and its lock', () => {
  it('refuses to run lego without flock, rather than run two at once', () => {
    const { tls, bin } = setUp(0);
    const r = spawnSync('sh', [RENEW_SH, 'ensure', 'shop'], { env: env(tls, bin, { BG_FLOCK: 'no-such-flock' }), encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the renewer's image has no flock");
    expect(calls(bin)).toEqual([]);
  });

  it("a deploy's ensure waits for a pass under way at most BG_RENEW_LOCK_WAIT, and says so", () => {
    const { tls, bin } = setUp(0);
    const holder = spawn('flock', [join(tls, 'lego.lock'), 'sleep', '5']);
    try {
      spawnSync('sleep', ['0.3']);
      const started = Date.now();
      const r = spawnSync('sh', [RENEW_SH, 'ensure', 'shop'], { env: env(tls, bin, { BG_RENEW_LOCK_WAIT: '1' }), encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('waiting for the renewal under way (at most 1s)');
      expect(r.stderr).toContain("a renewal held the renewer's lock for more than 1s");
      expect(Date.now() - started).toBeLessThan(3000);
      expect(calls(bin)).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('never lets lego sleep at random (the loop spreads its passes outside the lock instead)', () => {
    const { tls, bin } = setUp(0);
    spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin) });
    spawnSync('sh', [RENEW_SH, 'pass'], { env: env(tls, bin) });
    const renewals = readFileSync(join(bin, 'args'), 'utf8')
      .split('\n')
      .filter((l) => / renew( |$)/.test(l));
    expect(renewals.length).toBe(1);
    expect(renewals[0]).toContain('--no-random-sleep');
  });
});

describe('renew.sh loop', () => {
  it('passes at start, retries after BG_RENEW_RETRY when a pass failed, then waits BG_RENEW_INTERVAL; stops at once on TERM', async () => {
    const { tls, bin } = setUp(2); // the CA is down for the first two attempts
    let out = '';
    child = spawn('sh', [RENEW_SH, 'loop'], { env: env(tls, bin, { BG_RENEW_INTERVAL: '3', BG_RENEW_RETRY: '1' }), detached: true });
    child.stdout?.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));
    // Expected: fail at 0 s, fail at 1 s, obtain at 2 s, renew at 5 s.
    await new Promise((r) => setTimeout(r, 6500));
    const seen = calls(bin);
    expect(seen.map((c) => c.verb)).toEqual(['run', 'run', 'run', 'renew']);
    const gaps = seen.slice(1).map((c, i) => c.at - seen[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(1);
    expect(gaps[0]).toBeLessThan(1.8);
    expect(gaps[1]).toBeGreaterThanOrEqual(1);
    expect(gaps[1]).toBeLessThan(1.8);
    expect(gaps[2]).toBeGreaterThanOrEqual(3);
    expect(gaps[2]).toBeLessThan(3.8);
    expect(out).toContain('started: renews certificates with fewer than 30 days left, every 3s');
    expect(out.match(/shop: failed \(tried again in 1s\)/g)?.length).toBe(2);

    const stoppedAt = Date.now();
    process.kill(child.pid as number, 'SIGTERM'); // what docker stop sends the container's first process
    expect(await exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(1000);
  }, 15_000);
});
