// HTTPS on the proxy (issue 12), against real parts: pebble (Let's Encrypt's test CA) on the test
// server's network validates HTTP-01 through the real proxy; the renewer is sid's lego; own
// certificates come from a CA made by openssl. Classic server.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { makeCa, makeLeaf } from '../helpers/certs';
import { failures, startLoad } from '../helpers/load';
import { type TestServer, getHttpsThroughProxy, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';
import { until } from '../helpers/wait';

const HTTPS_PORT = 18443;
const PEBBLE = 'bluegreen-test-pebble';
const RENEWER = 'bluegreen-proxy-acme';
const env = Object.fromEntries(
  readFileSync('/run/bluegreen-test/env', 'utf8')
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

let server: TestServer;
let pebbleRoot = '';
const tlsDir = () => `${server.home}/.bluegreen/tls`;

/** Pebble on the server's network, as `pebble`; it keeps its accounts and its root in memory only. */
function startPebble(srv = server, config = 'config.json'): void {
  remoteDockerStatus(srv, ['rm', '-f', PEBBLE]);
  if (remoteDockerStatus(srv, ['network', 'inspect', 'bluegreen']).code !== 0) remoteDocker(srv, ['network', 'create', 'bluegreen']);
  remoteDocker(srv, ['run', '-d', '--name', PEBBLE, '--restart', 'unless-stopped', '--network', 'bluegreen', '--network-alias', 'pebble', env.BG_PEBBLE_IMAGE, '/pebble/start.sh', config]);
}

async function fetchPebbleRoot(srv = server): Promise<string> {
  let root = '';
  await until('pebble serving its root', 30, async () => {
    const r = remoteDockerStatus(srv, ['exec', PEBBLE, 'wget', '-q', '-O', '-', '--no-check-certificate', 'https://127.0.0.1:15000/roots/0']);
    root = r.out;
    return r.code === 0 && root.includes('BEGIN CERTIFICATE');
  });
  return root;
}

const acmeInputs = (app: string, hostname: string, version: string, extra: Record<string, string> = {}, srv = server) =>
  serverInputs(srv, {
    app,
    hostname,
    image: `${srv.appImage}:${version}`,
    'health-timeout': '10s',
    'proxy-ports': srv.kind === 'classic' ? `${srv.proxyPorts}\n127.0.0.1:${HTTPS_PORT}:443` : `${srv.proxyPorts}\n${env.BG_MODERN_HTTPS_PORT}:443`,
    tls: 'acme',
    'acme-email': 'ops@example.test',
    'acme-directory': 'https://pebble:14000/dir',
    'acme-ca-certificate': readFileSync(env.BG_PEBBLE_API_CA, 'utf8'),
    'acme-image': env.BG_LEGO_IMAGE,
    ...extra,
  });

interface Answer {
  status: number;
  body: string;
  location?: string;
  cert?: X509Certificate;
}

/** GET over HTTPS to the proxy's published port with SNI and Host set to `host`, checked against `ca`. */
const getHttps = (host: string, path = '/', ca = pebbleRoot, port = HTTPS_PORT): Promise<Answer> => getHttpsThroughProxy(port, host, ca, path);

function getHttp(host: string, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.proxyPort, path, headers: { Host: host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), location: res.headers.location }));
      })
      .on('error', reject);
  });
}

function alpnOf(host: string, ca = pebbleRoot, port = HTTPS_PORT): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${host}:${port}`, {
      ca,
      servername: host,
      lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => (o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4))) as never,
    });
    session.on('error', reject);
    session.on('connect', () => {
      resolve(session.alpnProtocol ?? '');
      session.close();
    });
  });
}

/** One pass of the renewer with every certificate due and no random delay, as its loop would run it. */
function forcedPass(srv = server): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      'docker',
      ['exec', '-e', 'BG_RENEW_DAYS=100000', RENEWER, 'sh', '/etc/nginx/bluegreen-tls/renew.sh', 'pass'],
      { env: { ...process.env, DOCKER_HOST: srv.remoteDockerHost } },
      (_error, stdout, stderr) => resolve(stdout + stderr),
    );
  });
}

const serial = async (host: string) => (await getHttps(host)).cert?.serialNumber;

// The classic server's tests share one pebble, started once (the modern server's start their own).
describe('tls on the classic server', () => {
  beforeAll(async () => {
    server = testServer('classic');
    resetServer(server);
    startPebble();
    pebbleRoot = await fetchPebbleRoot();
  }, 60_000);

  afterAll(() => {
    remoteDockerStatus(server, ['rm', '-f', PEBBLE]);
  });

  describe('tls: acme with pebble', () => {
    let first: ActionRun;

    it('gets certificates for two apps and a preview; each host name gets its app over HTTPS with HTTP/2', async () => {
      first = await runAction(acmeInputs('shop', 'shop.test www.shop.test', 'v1'));
      expect(first.code, first.stdout).toBe(0);
      expect(first.stdout).toContain('got a new certificate for shop.test www.shop.test');
      const blog = await runAction(acmeInputs('blog', 'blog.test', 'v2'));
      expect(blog.code, blog.stdout).toBe(0);
      const preview = await runAction(acmeInputs('shop-pr-7', 'pr-7.preview.test', 'v2'));
      expect(preview.code, preview.stdout).toBe(0);

      for (const [host, body] of [
        ['shop.test', 'v1'],
        ['www.shop.test', 'v1'],
        ['blog.test', 'v2'],
        ['pr-7.preview.test', 'v2'],
      ]) {
        const answer = await getHttps(host);
        expect(answer, host).toMatchObject({ status: 200, body });
        expect(answer.cert?.checkHost(host), host).toBe(host);
        expect(answer.cert?.issuer).toContain('Pebble');
      }
      expect(await alpnOf('blog.test')).toBe('h2');
      expect((await getHttps('shop.test', '/forwarded')).body).toMatch(/^proto=https /);
    }, 120_000);

    it('redirects HTTP to HTTPS, except the ACME challenge path', async () => {
      expect(await getHttp('shop.test', '/a?b=1')).toMatchObject({ status: 308, location: 'https://shop.test/a?b=1' });
      expect((await getHttp('shop.test', '/.well-known/acme-challenge/nothing')).status).toBe(404);
    });

    it('shows the certificate in the summary and the outputs, and status shows it too', async () => {
      expect(first.summary).toMatch(/\| \*\*Certificate\*\* \| shop\.test, www\.shop\.test: Pebble Intermediate CA [0-9a-f]+, expires \d{4}-\d\d-\d\d \(\d+ days left\) · last renewal: ok /);
      expect(JSON.parse(first.outputs.certificate)).toMatchObject({ hosts: ['shop.test', 'www.shop.test'] });
      expect(first.outputs.url).toBe('https://shop.test/');
      const status = await runAction(serverInputs(server, { app: 'shop', command: 'status' }));
      expect(status.code, status.stdout).toBe(0);
      expect(status.summary).toContain('| **Certificate** | shop.test, www.shop.test: Pebble');
    }, 60_000);

    it('a redeploy requests no certificate while the one it has is valid', async () => {
      const before = await serial('shop.test');
      const again = await runAction(acmeInputs('shop', 'shop.test www.shop.test', 'v2'));
      expect(again.code, again.stdout).toBe(0);
      expect(again.stdout).toMatch(/is in place, \d+ days left \(renewed on the server by bluegreen-proxy-acme\); nothing requested/);
      expect(await serial('shop.test')).toBe(before);
      expect((await getHttps('shop.test')).body).toBe('v2');
    }, 60_000);

    it('renews under HTTPS load with a graceful reload: no request fails, the new certificate is served', async () => {
      const before = await serial('shop.test');
      const load = startLoad({ port: HTTPS_PORT, hostHeader: 'shop.test', tls: { ca: pebbleRoot, servername: 'shop.test' }, steadyWorkers: 3, slowWorkers: 2, slowMs: 1500, maxSeconds: 60 });
      try {
        await new Promise((r) => setTimeout(r, 1000));
        // What the renewer's loop does when a certificate is due, forced now (every certificate is "due").
        // Not execFileSync: the load generator runs on this event loop meanwhile.
        const pass = await forcedPass();
        expect(pass).toContain('shop: changed');
        expect(pass).toContain('asked the proxy to reload nginx');
        await until('the renewed certificate served', 10, async () => (await serial('shop.test')) !== before);
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        await load.stop();
      }
      const failed = failures(load.samples);
      console.log(`renewal under load: ${load.samples.length} HTTPS requests, ${failed.length} failed`);
      expect(load.samples.length).toBeGreaterThan(50);
      expect(failed).toEqual([]);
    }, 90_000);

    it("a failed renewal shows in status and in the next run's summary, and the next pass renews", async () => {
      // The CA's HTTPS cannot be trusted (a wrong root): lego fails at once, as with any CA outage.
      const ca = `${server.home}/.bluegreen/tls/apps/shop.ca.pem`;
      const good = readFileSync(ca, 'utf8');
      remoteDocker(server, ['exec', RENEWER, 'sh', '-c', `cp /etc/nginx/bluegreen-tls/live/shop/fullchain.pem /etc/nginx/bluegreen-tls/apps/shop.ca.pem`]);
      const pass = await forcedPass();
      expect(pass).toContain('shop: failed (tried again in 3600s)');
      const status = await runAction(serverInputs(server, { app: 'shop', command: 'status' }));
      expect(status.summary).toMatch(/\| \*\*Certificate\*\* \| ⚠️ shop\.test, www\.shop\.test: .* last renewal: error \S+ lego renew failed/);
      expect((await getHttps('shop.test')).status).toBe(200); // the certificate in place is still served
      const next = await runAction(acmeInputs('shop', 'shop.test www.shop.test', 'v2'));
      expect(next.code, next.stdout).toBe(0);
      expect(next.summary).toContain('| **Certificate** | ⚠️ shop.test');
      expect(readFileSync(ca, 'utf8')).toBe(good); // the deploy wrote its settings back
      expect(await forcedPass()).toContain('shop: changed');
    }, 120_000);

    it('keeps serving the same certificates when the proxy is re-created and when nginx dies; renewals still reach the new proxy', async () => {
      // The last pass renewed blog's certificate: wait until the proxy's reload serves it (the watcher
      // looks every 2 s), rather than for a fixed time.
      const before = new X509Certificate(readFileSync(`${tlsDir()}/live/blog/fullchain.pem`)).serialNumber;
      await until("the last pass's certificate served", 15, async () => (await serial('blog.test')) === before);
      const renewerStarted = remoteDocker(server, ['inspect', '-f', '{{.State.StartedAt}}', RENEWER]).trim();
      remoteDocker(server, ['rm', '-f', 'bluegreen-proxy']);
      const heal = await runAction(acmeInputs('blog', 'blog.test', 'v2'));
      expect(heal.code, heal.stdout).toBe(0);
      expect(heal.stdout).toContain('nothing requested');
      expect(await serial('blog.test')).toBe(before);

      // As at a crash: the proxy's nginx dies without docker stop, and Docker restarts it. The renewer
      // does not depend on the proxy: it keeps running, untouched by either event.
      for (let crash = 1; crash <= 3; crash++) {
        const [pid, started] = remoteDocker(server, ['inspect', '-f', '{{.State.Pid}} {{.State.StartedAt}}', 'bluegreen-proxy']).trim().split(' ');
        execFileSync('kill', ['-KILL', pid]);
        // Restarted first: a worker of the killed nginx can still answer for an instant before the
        // kernel ends the container's processes, which made HTTPS look "served again" too soon.
        await until(
          `the proxy restarted after crash ${crash}`,
          30,
          async () => remoteDocker(server, ['inspect', '-f', '{{.State.Running}} {{.State.StartedAt}}', 'bluegreen-proxy']).trim().split(' ')[1] !== started,
        );
        await until(`HTTPS served again after crash ${crash}`, 30, async () => (await getHttps('blog.test').catch(() => ({ status: 0 }))).status === 200);
        expect(await serial('blog.test')).toBe(before);
        await new Promise((r) => setTimeout(r, 11_000)); // Docker's restart delay doubles under 10 s of uptime
      }
      expect(remoteDocker(server, ['inspect', '-f', '{{.State.Running}} {{.State.StartedAt}}', RENEWER]).trim()).toBe(`true ${renewerStarted}`);
      // The restarted proxy's watcher puts a renewal in use.
      const pass = await forcedPass();
      expect(pass).toContain('blog: changed');
      expect(pass).toContain('asked the proxy to reload nginx');
      await until('the renewed certificate served by the restarted proxy', 10, async () => (await serial('blog.test')) !== before);
    }, 150_000);

    it('a deploy with an expired certificate in place gets a valid one before it switches', async () => {
      // The served copy expired (as when renewals failed for months); the CA is reachable.
      const expired = makeLeaf(makeCa('expired CA'), 'expired', ['blog.test'], { startDaysAgo: 40, days: 30 });
      writeFileSync(`${tlsDir()}/live/blog/fullchain.pem`, expired.cert);
      writeFileSync(`${tlsDir()}/live/blog/key.pem`, expired.key);
      const run = await runAction(acmeInputs('blog', 'blog.test', 'v2'));
      expect(run.code, run.stdout).toBe(0);
      expect(run.stdout).toMatch(/the certificate for blog\.test has -\d+ days left: renewing it now/);
      expect(run.stdout).not.toContain('nothing requested');
      const served = (await getHttps('blog.test')).cert!;
      expect(served.issuer).toContain('Pebble');
      expect(Date.parse(served.validTo)).toBeGreaterThan(Date.now() + 30 * 86_400_000);
      expect(JSON.parse(run.outputs.certificate).daysLeft).toBeGreaterThan(30);
    }, 120_000);

    it('no certificate for a new host name (the CA unreachable as configured): the deploy fails and nothing is changed', async () => {
      const conf = readFileSync(`${server.home}/.bluegreen/nginx/blog.conf`, 'utf8');
      // What the renewer reads: it must go on renewing the certificate that is served.
      const settings = readFileSync(`${tlsDir()}/apps/blog.env`, 'utf8');
      const caFile = readFileSync(`${tlsDir()}/apps/blog.ca.pem`, 'utf8');
      // The CA cannot be reached as configured (its HTTPS root is wrong): lego fails for the new name.
      const run = await runAction(acmeInputs('blog', 'blog.test new.blog.test', 'v1', { 'acme-ca-certificate': makeCa('not pebble').cert }));
      expect(run.code, run.stdout).toBe(1);
      expect(run.stdout).toContain('no certificate for blog.test new.blog.test');
      expect(run.stdout).toContain('nothing was changed');
      expect(readFileSync(`${server.home}/.bluegreen/nginx/blog.conf`, 'utf8')).toBe(conf);
      expect(readFileSync(`${tlsDir()}/apps/blog.env`, 'utf8')).toBe(settings);
      expect(readFileSync(`${tlsDir()}/apps/blog.ca.pem`, 'utf8')).toBe(caFile);
      expect((await getHttps('blog.test')).body).toBe('v2');
    }, 120_000);

    it("an app moved from acme to own leaves the renewer; remove takes certificate, key and lego's files; the renewer stops with no ACME app left", async () => {
      const legoFiles = () => readdirSync(`${tlsDir()}/lego/certificates`).sort();
      expect(legoFiles()).toContain('pr-7.preview.test.crt');
      const ca = makeCa('moved to own');
      const leaf = makeLeaf(ca, 'pr7', ['pr-7.preview.test']);
      const moved = await runAction(acmeInputs('shop-pr-7', 'pr-7.preview.test', 'v2', { tls: 'own', 'tls-certificate': leaf.cert, 'tls-key': leaf.key }));
      expect(moved.code, moved.stdout).toBe(0);
      expect(moved.stdout).toContain('the renewer no longer renews the certificate of shop-pr-7');
      expect(existsSync(`${tlsDir()}/apps/shop-pr-7.env`)).toBe(false);
      expect(existsSync(`${tlsDir()}/status/shop-pr-7`)).toBe(false);
      expect(legoFiles().filter((f) => f.startsWith('pr-7.preview.test'))).toEqual([]);
      expect((await getHttps('pr-7.preview.test', '/', ca.cert)).body).toBe('v2');

      for (const app of ['blog', 'shop-pr-7']) {
        const removed = await runAction(serverInputs(server, { app, command: 'remove' }));
        expect(removed.code, removed.stdout).toBe(0);
        expect(existsSync(`${tlsDir()}/live/${app}`), app).toBe(false);
        expect(existsSync(`${tlsDir()}/apps/${app}.env`), app).toBe(false);
      }
      expect(legoFiles().filter((f) => f.startsWith('blog.test'))).toEqual([]);
      expect(remoteDocker(server, ['inspect', '-f', '{{.State.Running}}', RENEWER]).trim()).toBe('true'); // shop is left
      const last = await runAction(serverInputs(server, { app: 'shop', command: 'remove' }));
      expect(last.code, last.stdout).toBe(0);
      expect(last.stdout).toContain('stopped the certificate renewer bluegreen-proxy-acme: no app is left for it to renew');
      expect(remoteDockerStatus(server, ['inspect', RENEWER]).code).not.toBe(0);
      expect(legoFiles().filter((f) => f.startsWith('shop.test'))).toEqual([]);
    }, 180_000);
  });

  describe('tls: own, with a CA made by openssl', () => {
    const ca = makeCa('bluegreen own CA');
    const wild = makeLeaf(ca, 'wild', ['*.own.test']);
    const other = makeLeaf(ca, 'other', ['x.own.test']);
    const ownInputs = (app: string, hostname: string, version: string, cert: string, key: string) =>
      serverInputs(server, {
        app,
        hostname,
        image: `${server.appImage}:${version}`,
        'health-timeout': '10s',
        'proxy-ports': `${server.proxyPorts}\n127.0.0.1:${HTTPS_PORT}:443`,
        tls: 'own',
        'tls-certificate': cert,
        'tls-key': key,
      });

    it('serves a wildcard certificate given as text to a preview host; the key never shows', async () => {
      const run = await runAction(ownInputs('own-pr-1', 'pr-1.own.test', 'v1', wild.cert, wild.key));
      expect(run.code, run.stdout).toBe(0);
      const answer = await getHttps('pr-1.own.test', '/', ca.cert);
      expect(answer).toMatchObject({ status: 200, body: 'v1' });
      expect(answer.cert?.checkHost('pr-1.own.test')).toBe('*.own.test');
      const keyBody = wild.key.split('\n')[1];
      // Registered with the runner as a secret (::add-mask::, which the runner never prints), else nowhere.
      const shown = run.stdout
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n');
      expect(run.stdout).toContain(`::add-mask::${keyBody}`);
      expect(shown + run.summary + JSON.stringify(run.outputs)).not.toContain(keyBody);
      const live = `${server.home}/.bluegreen/tls/live/own-pr-1`;
      expect(
        execFileSync('stat', ['-c', '%a', `${live}/key.pem`, live], { encoding: 'utf8' })
          .split('\n')
          .slice(0, 2),
      ).toEqual(['600', '700']);
    }, 60_000);

    it('a certificate and key on the server that do not match are refused by nginx before anything changes', async () => {
      const dir = `${server.home}/certs`;
      execFileSync('bash', ['-c', `mkdir -p ${dir} && cp ${wild.certPath} ${dir}/wild.pem && cp ${other.keyPath} ${dir}/other.key && chown -R ${server.user} ${dir}`]);
      const before = (await getHttps('pr-1.own.test', '/', ca.cert)).cert?.serialNumber;
      const run = await runAction(ownInputs('own-pr-1', 'pr-1.own.test', 'v2', `${dir}/wild.pem`, `${dir}/other.key`));
      expect(run.code, run.stdout).toBe(1);
      expect(run.stdout).toContain('nginx cannot use tls-certificate with tls-key');
      expect(run.stdout).toContain('nothing was changed');
      const answer = await getHttps('pr-1.own.test', '/', ca.cert);
      expect(answer).toMatchObject({ status: 200, body: 'v1' });
      expect(answer.cert?.serialNumber).toBe(before);
      const good = await runAction(ownInputs('own-pr-1', 'pr-1.own.test', 'v2', `${dir}/wild.pem`, wild.keyPath.replace(/.*\//, `${dir}/`)));
      expect(good.code).toBe(1); // that key file is not on the server: said so, nothing changed
      expect(good.stdout).toContain('cannot read tls-key');
    }, 90_000);

    it('an expired certificate, or one for another host name, given as a server path is refused before anything changes', async () => {
      const dir = `${server.home}/certs`;
      const expired = makeLeaf(ca, 'expired-path', ['pr-1.own.test'], { startDaysAgo: 40, days: 30 });
      execFileSync('bash', [
        '-c',
        `mkdir -p ${dir} && cp ${expired.certPath} ${dir}/expired.pem && cp ${expired.keyPath} ${dir}/expired.key && cp ${other.certPath} ${dir}/other.pem && cp ${other.keyPath} ${dir}/other.key && chown -R ${server.user} ${dir}`,
      ]);
      const before = (await getHttps('pr-1.own.test', '/', ca.cert)).cert?.serialNumber;
      const old = await runAction(ownInputs('own-pr-1', 'pr-1.own.test', 'v2', `${dir}/expired.pem`, `${dir}/expired.key`));
      expect(old.code).toBe(1);
      expect(old.stdout).toContain(`tls-certificate ${dir}/expired.pem has expired; nothing was changed`);
      const elsewhere = await runAction(ownInputs('own-pr-1', 'pr-1.own.test', 'v2', `${dir}/other.pem`, `${dir}/other.key`));
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stdout).toContain(`tls-certificate ${dir}/other.pem is not for pr-1.own.test (it names x.own.test); nothing was changed`);
      const answer = await getHttps('pr-1.own.test', '/', ca.cert);
      expect(answer).toMatchObject({ status: 200, body: 'v1' });
      expect(answer.cert?.serialNumber).toBe(before);
    }, 90_000);
    it("one app's certificate files removed by hand cost only that app its HTTPS: others deploy, a proxy restart serves them all (issue 27)", async () => {
      const second = await runAction(ownInputs('own-pr-2', 'pr-2.own.test', 'v1', wild.cert, wild.key));
      expect(second.code, second.stdout).toBe(0);
      const live = `${server.home}/.bluegreen/tls/live/own-pr-1`;
      rmSync(`${live}/pair.pem`);
      rmSync(`${live}/key.pem`);
      // Another app's deploy reloads nginx: it goes through, and says which app lost its HTTPS.
      const other = await runAction(ownInputs('own-pr-2', 'pr-2.own.test', 'v2', wild.cert, wild.key));
      expect(other.code, other.stdout).toBe(0);
      expect(other.stdout).toContain(`warning: the certificate of own-pr-1 (${live}/pair.pem) does not load: its HTTPS handshakes are refused, every other app is served`);
      expect(await getHttps('pr-2.own.test', '/', ca.cert)).toMatchObject({ status: 200, body: 'v2' });
      await expect(getHttps('pr-1.own.test', '/', ca.cert)).rejects.toThrow();
      expect((await getHttp('pr-1.own.test')).status).toBe(308); // its plain HTTP is still routed
      // The proxy restarted (a reboot, a crash): nginx starts, with every other app.
      remoteDocker(server, ['restart', 'bluegreen-proxy']);
      await until('pr-2 served over HTTPS after the restart', 30, async () => (await getHttps('pr-2.own.test', '/', ca.cert).catch(() => ({ status: 0 }))).status === 200);
      expect(remoteDocker(server, ['inspect', '-f', '{{.RestartCount}} {{.State.Running}}', 'bluegreen-proxy']).trim()).toBe('0 true');
      await expect(getHttps('pr-1.own.test', '/', ca.cert)).rejects.toThrow();
      // Its next deploy puts a pair in place again.
      const healed = await runAction(ownInputs('own-pr-1', 'pr-1.own.test', 'v2', wild.cert, wild.key));
      expect(healed.code, healed.stdout).toBe(0);
      expect(healed.stdout).not.toContain('warning: the certificate of');
      expect(await getHttps('pr-1.own.test', '/', ca.cert)).toMatchObject({ status: 200, body: 'v2' });
    }, 120_000);
  });

  describe('TLS turned on for a proxy created without port 443', () => {
    it('re-creates the proxy by itself; requests fail only while Docker moves the ports', async () => {
      resetServer(server);
      startPebble();
      pebbleRoot = await fetchPebbleRoot();
      const plain = await runAction(serverInputs(server, { app: 'shop', hostname: 'shop.test', image: `${server.appImage}:v1` }));
      expect(plain.code, plain.stdout).toBe(0);
      const load = startLoad({ port: server.proxyPort, hostHeader: 'shop.test', steadyWorkers: 3, slowWorkers: 0, maxSeconds: 90 });
      let run: ActionRun;
      try {
        run = await runAction(acmeInputs('shop', 'shop.test', 'v1', { 'tls-redirect': 'false' }));
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        await load.stop();
      }
      expect(run.code, run.stdout).toBe(0);
      const gap = Number(/its ports were closed for (\d+)ms/.exec(run.stdout)?.[1]);
      const failed = failures(load.samples);
      const window = failed.length ? failed[failed.length - 1].end - failed[0].start : 0;
      console.log(`proxy re-created for TLS: ports closed ${gap} ms; ${load.samples.length} requests, ${failed.length} failed within ${window} ms`);
      expect(gap).toBeLessThan(5000);
      expect(window).toBeLessThan(gap + 2000);
      expect((await getHttps('shop.test')).body).toBe('v1');
      expect((await getHttp('shop.test')).body).toBe('v1'); // tls-redirect: false serves both
    }, 180_000);
  });

  describe('tls: acme with External Account Binding (a CA that requires it)', () => {
    // The MAC key pebble's eab.json knows for kid-test (test/server/up.sh).
    const HMAC = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
    const WRONG = 'A'.repeat(64);

    it('binds the account with the key ID and MAC key given; a wrong MAC key gets no certificate; the MAC key never shows', async () => {
      startPebble(server, 'eab.json'); // a new CA: it knows none of the accounts registered so far
      pebbleRoot = await fetchPebbleRoot();

      const wrong = await runAction(acmeInputs('eab', 'eab.test', 'v1', { 'acme-eab-kid': 'kid-test', 'acme-eab-hmac': WRONG }));
      expect(wrong.code, wrong.stdout).toBe(1);
      expect(wrong.stdout).toContain('no certificate for eab.test');
      expect(wrong.stdout).toMatch(/eab|External Account/i);

      const run = await runAction(acmeInputs('eab', 'eab.test', 'v1', { 'acme-eab-kid': 'kid-test', 'acme-eab-hmac': HMAC }));
      expect(run.code, run.stdout).toBe(0);
      expect(run.stdout).toContain('got a new certificate for eab.test');
      const answer = await getHttps('eab.test');
      expect(answer).toMatchObject({ status: 200, body: 'v1' });
      expect(answer.cert?.issuer).toContain('Pebble');

      for (const [r, secret] of [
        [wrong, WRONG],
        [run, HMAC],
      ] as const) {
        const shown = r.stdout
          .split('\n')
          .filter((line) => !line.startsWith('::add-mask::'))
          .join('\n');
        expect(r.stdout).toContain(`::add-mask::${secret}`);
        for (const text of [shown, r.summary, JSON.stringify(r.outputs)]) {
          expect(text).not.toContain(HMAC);
          expect(text).not.toContain(WRONG);
        }
      }
      // Kept on the server for the renewer, readable by its owner only.
      expect(statSync(`${server.home}/.bluegreen/tls/apps/eab.env`).mode & 0o777).toBe(0o600);
    }, 180_000);
  });
});

describe('tls on the modern server (Docker 28, containerd store, nginx 1.30), rebooted', () => {
  let modern: TestServer;
  let root = '';
  const port = Number(env.BG_MODERN_HTTPS_PORT);
  const serialOn = async (host: string, ca: string) => (await getHttps(host, '/', ca, port)).cert?.serialNumber;

  beforeAll(async () => {
    modern = testServer('modern');
    resetServer(modern);
    startPebble(modern);
    root = await fetchPebbleRoot(modern);
  }, 60_000);

  afterAll(() => {
    remoteDockerStatus(modern, ['rm', '-f', PEBBLE]);
  });

  it('serves HTTPS with HTTP/2 (nginx >= 1.25.1: "http2 on;"), and after a reboot the same certificate, renewed by a renewer that came back by itself', async () => {
    const run = await runAction(acmeInputs('shop', 'shop.test', 'v1', {}, modern));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('got a new certificate for shop.test');
    expect(readFileSync(`${modern.home}/.bluegreen/nginx/_hosts.conf`, 'utf8')).toContain('http2 on;');
    expect(await getHttps('shop.test', '/', root, port)).toMatchObject({ status: 200, body: 'v1' });
    expect(await alpnOf('shop.test', root, port)).toBe('h2');
    const before = await serialOn('shop.test', root);

    const container = env.BG_MODERN_SERVER_CONTAINER;
    execFileSync('docker', ['restart', '-t', '20', container]); // the whole host: its dockerd and containerd start anew
    await until('HTTPS served after the reboot', 90, async () => (await getHttps('shop.test', '/', root, port).catch(() => ({ status: 0 }))).status === 200);
    expect(await serialOn('shop.test', root)).toBe(before);
    await until('the renewer running after the reboot', 30, async () => remoteDocker(modern, ['inspect', '-f', '{{.State.Running}}', RENEWER]).trim() === 'true');

    // Pebble came back too, as a new CA (new root, no accounts): the renewer registers again, renews,
    // and the rebooted proxy's watcher puts the new certificate in use.
    const newRoot = await fetchPebbleRoot(modern);
    expect(newRoot).not.toBe(root);
    const pass = await forcedPass(modern);
    expect(pass).toContain('the CA does not know the account of ops@example.test any more; registering a new one');
    expect(pass).toContain('shop: changed');
    await until('the renewed certificate served', 10, async () => (await serialOn('shop.test', newRoot).catch(() => undefined)) !== undefined);
    expect((await getHttps('shop.test', '/', newRoot, port)).body).toBe('v1');
  }, 240_000);
});
