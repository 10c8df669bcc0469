// rollback, status and remove act on the settings the deploy recorded on the server (host names,
// port, TLS, health check), as the example workflows run them: with only the connection and app.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { makeCa, makeLeaf } from '../helpers/certs';
import { SERVER_KINDS, type TestServer, getHttpsThroughProxy, getThroughProxy, localDocker, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

const HTTPS_PORT = 18443;
const MODERN_HTTPS_PORT = 18444;
const PORT_IMAGE = 'bluegreen-test/port3000';
let server: TestServer;

/** Only what examples/rollback.yml gives: the connection, the app and the command. */
function connectionOnly(app: string, command: string, extra: Record<string, string> = {}): Record<string, string> {
  const all = serverInputs(server);
  return { host: all.host, port: all.port, user: all.user, 'ssh-key': all['ssh-key'], 'known-hosts': all['known-hosts'], 'connect-retries': '0', app, command, ...extra };
}

/** The test app listening where PORT says, in an image that EXPOSEs 3000 only (like a Node app). */
function buildPortImages(): void {
  const dir = mkdtempSync(join(tmpdir(), 'bg-port3000-'));
  for (const version of ['v1', 'v2']) {
    writeFileSync(join(dir, `version-${version}`), `${version}\n`);
    writeFileSync(
      join(dir, `Dockerfile.${version}`),
      `FROM ${server.appImage}:v1 AS app\nFROM bluegreen-test/busybox:1\nCOPY --from=app /testapp /testapp\nCOPY version-${version} /version\nEXPOSE 3000\nCMD ["/testapp"]\n`,
    );
    localDocker(['build', '-q', '-t', `${PORT_IMAGE}:${version}`, '-f', join(dir, `Dockerfile.${version}`), dir]);
  }
}

function getHttp(host: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.proxyPort, path: '/', headers: { Host: host }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
      })
      .on('error', reject);
  });
}

const appContainers = (app: string) =>
  remoteDocker(server, ['ps', '-a', '--format', '{{.Names}}', '--filter', `label=bluegreen.app=${app}`])
    .split('\n')
    .filter(Boolean)
    .sort();

describe('settings recorded at deploy (classic server)', () => {
  beforeAll(() => {
    server = testServer('classic');
    resetServer(server);
    buildPortImages();
  });

  const proxyPorts = () => `${server.proxyPorts}\n127.0.0.1:${HTTPS_PORT}:443`;

  it('an app on port 3000 that EXPOSEs it: deployed without container-port; rollback, status and remove given only the connection and app', async () => {
    const deploy = (version: string) => runAction(serverInputs(server, { app: 'rec', hostname: 'rec.test', image: `${PORT_IMAGE}:${version}`, 'health-timeout': '15s', 'proxy-ports': proxyPorts() }));
    const first = await deploy('v1');
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout).toContain("container port 3000 (the image's EXPOSE 3000); the app gets PORT=3000");
    expect(await getThroughProxy(server, 'rec.test')).toBe('200 v1');
    expect((await deploy('v2')).code).toBe(0);
    expect(await getThroughProxy(server, 'rec.test')).toBe('200 v2');

    const rollback = await runAction(connectionOnly('rec', 'rollback'));
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.stdout).toContain('using the settings the deploy recorded: host names rec.test, port 3000, tls off');
    expect(rollback.outputs.result).toBe('switched');
    expect(rollback.outputs.url).toBe('http://rec.test/');
    expect(await getThroughProxy(server, 'rec.test')).toBe('200 v1');

    const status = await runAction(connectionOnly('rec', 'status'));
    expect(status.code, status.stdout).toBe(0);
    expect(status.outputs.url).toBe('http://rec.test/');
    expect(status.outputs['active-slot']).toBe(rollback.outputs['active-slot']);

    // logs with only the connection and app: the live version's lines (v1 after the rollback).
    const logs = await runAction(connectionOnly('rec', 'logs', { 'logs-lines': '5' }));
    expect(logs.code, logs.stdout).toBe(0);
    expect(logs.outputs.logs).toContain('testapp v1 listening on :3000');
    expect(logs.summary).toContain('### Last log lines of the live container');
    expect(logs.stdout).toMatch(/ {2}\| testapp v1 listening on :3000/);

    // A given input that differs from the record is refused before anything changes.
    const conflicting = await runAction(connectionOnly('rec', 'rollback', { 'container-port': '8080' }));
    expect(conflicting.code).not.toBe(0);
    expect(conflicting.stdout).toContain("container-port (recorded: '3000', this run: '8080')");
    expect(conflicting.outputs.result).toBe('failed');
    expect(await getThroughProxy(server, 'rec.test')).toBe('200 v1');
    // The same value as the record is no conflict.
    const same = await runAction(connectionOnly('rec', 'status', { 'container-port': '3000', hostname: 'rec.test' }));
    expect(same.code, same.stdout).toBe(0);

    // remove with another state-dir than the deploy's (and a proxy that reads it, so the proxy's own
    // check passes): said plainly, nothing removed. Before, the containers went and the config stayed.
    const elsewhere = await runAction(connectionOnly('rec', 'remove', { 'state-dir': '~/.other-state', 'proxy-name': 'other-proxy' }));
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stdout).toMatch(/rec was deployed with state-dir \S+\/\.bluegreen, and this run's is \S+\/\.other-state/);
    expect(appContainers('rec')).toEqual(['rec-blue', 'rec-green']);
    expect(await getThroughProxy(server, 'rec.test')).toBe('200 v1');

    const removed = await runAction(connectionOnly('rec', 'remove'));
    expect(removed.code, removed.stdout).toBe(0);
    expect(removed.outputs.result).toBe('removed');
    expect(appContainers('rec')).toEqual([]);
    const left = execFileSync('ls', ['-A', `${server.home}/.bluegreen/apps/rec`], { encoding: 'utf8' });
    expect(left).not.toContain('settings');
    expect(left).not.toContain('container.'); // the recorded env (secrets), volumes and docker-args go too
  }, 240_000);

  it('an HTTPS app rolled back with only the connection and app keeps its certificate, redirect and host routing', async () => {
    const ca = makeCa('bluegreen recorded CA');
    const leaf = makeLeaf(ca, 'secure', ['secure.rec.test']);
    const deploy = (version: string) =>
      runAction(
        serverInputs(server, {
          app: 'rec-tls',
          hostname: 'secure.rec.test',
          image: `${server.appImage}:${version}`,
          'health-timeout': '15s',
          'proxy-ports': proxyPorts(),
          tls: 'own',
          'tls-certificate': leaf.cert,
          'tls-key': leaf.key,
        }),
      );
    expect((await deploy('v1')).code).toBe(0);
    const second = await deploy('v2');
    expect(second.code, second.stdout).toBe(0);
    expect(await getHttpsThroughProxy(HTTPS_PORT, 'secure.rec.test', ca.cert)).toMatchObject({ status: 200, body: 'v2' });

    const rollback = await runAction(connectionOnly('rec-tls', 'rollback'));
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.outputs.url).toBe('https://secure.rec.test/');
    expect(rollback.stdout).toContain('HTTPS with the certificate in place (tls: own)');
    const answer = await getHttpsThroughProxy(HTTPS_PORT, 'secure.rec.test', ca.cert);
    expect(answer).toMatchObject({ status: 200, body: 'v1' });
    expect(answer.cert?.checkHost('secure.rec.test')).toBe('secure.rec.test');
    expect(await getHttp('secure.rec.test')).toEqual({ status: 308, location: 'https://secure.rec.test/' });
    expect(rollback.summary).toContain('rolled back');
  }, 240_000);
});

/** A request with this Host header: "STATUS" or what went wrong (nginx's 444 closes without an answer). */
function answerFor(host: string, port = server.proxyPort): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { Host: host }, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve(`error: ${error.message}`));
  });
}

describe('what a deploy leaves on the server (classic server)', () => {
  beforeAll(() => {
    server = testServer('classic');
    resetServer(server);
  });

  const imageOnServer = (id: string) => remoteDockerStatus(server, ['image', 'inspect', id]).code === 0;

  it('the image of a deploy that never went live is pruned by the next deploy, and by remove', async () => {
    const v3 = localDocker(['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:v3`]).trim();
    const deploy = (version: string) => runAction(serverInputs(server, { app: 'tried', hostname: 'tried.test', image: `${server.appImage}:${version}`, 'health-timeout': '3s' }));
    expect((await deploy('v1')).code).toBe(0);
    expect((await deploy('v3')).code).toBe(3);
    expect(imageOnServer(v3)).toBe(true); // a re-run of the failed job needs no transfer until the next deploy
    const next = await deploy('v2');
    expect(next.code, next.stdout).toBe(0);
    expect(next.stdout).toContain(`removed image ${v3.slice(7, 19)} of a deploy that never went live`);
    expect(imageOnServer(v3)).toBe(false);
    expect((await deploy('v3')).code).toBe(3);
    expect(imageOnServer(v3)).toBe(true);
    const removed = await runAction(serverInputs(server, { app: 'tried', command: 'remove' }));
    expect(removed.code, removed.stdout).toBe(0);
    expect(imageOnServer(v3)).toBe(false);
  }, 240_000);

  it("an app container's log is bounded by log-max-size and log-max-files", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-chatty-'));
    // The test app, and beside it about 40 MB of log lines written as fast as the shell can (bounded).
    writeFileSync(
      join(dir, 'chatty.sh'),
      String.raw`s=$(head -c 2000 /dev/zero | tr '\0' x)
( i=0; while [ $i -lt 20000 ]; do echo "$s"; i=$((i+1)); done; echo done-writing ) &
exec /testapp
`,
    );
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${server.appImage}:v1\nCOPY chatty.sh /chatty.sh\nCMD ["sh", "/chatty.sh"]\n`);
    localDocker(['build', '-q', '-t', 'bluegreen-test/chatty:1', dir]);
    const run = await runAction(serverInputs(server, { app: 'chatty', image: 'bluegreen-test/chatty:1', hostname: 'chatty.test', 'log-max-size': '100k', 'log-max-files': '2' }));
    expect(run.code, run.stdout).toBe(0);
    const container = 'chatty-blue';
    const logPath = remoteDocker(server, ['inspect', '-f', '{{.LogPath}}', container]).trim();
    for (let i = 0; i < 60 && !remoteDocker(server, ['logs', '--tail', '1', container]).includes('done-writing'); i++) await new Promise((r) => setTimeout(r, 500));
    expect(remoteDocker(server, ['logs', '--tail', '1', container])).toContain('done-writing');
    const files = readdirSync(dirname(logPath)).filter((f) => f.startsWith(basename(logPath)));
    const sizes = files.map((f) => statSync(join(dirname(logPath), f)).size);
    console.log(`log files of a container that wrote ~40 MB with log-max-size 100k, log-max-files 2: ${files.length} files, ${sizes.join(' + ')} bytes`);
    expect(files.length).toBeLessThanOrEqual(2);
    expect(Math.max(...sizes)).toBeLessThan(200 * 1024);
    expect(remoteDocker(server, ['inspect', '-f', '{{json .HostConfig.LogConfig.Config}}', container])).toContain('"max-size":"100k"');
  }, 240_000);
});

describe.each(SERVER_KINDS)('host names no app claims (%s server)', (kind) => {
  // The modern server's proxy (nginx 1.30, "http2 on;") is reached through its container's ports.
  const httpsPort = kind === 'classic' ? HTTPS_PORT : MODERN_HTTPS_PORT;
  beforeAll(() => {
    server = testServer(kind);
    resetServer(server);
  });

  it("are refused on 80 and 443, never served by another app; a removed preview's name too; an app without host names stays the default", async () => {
    const ca = makeCa('bluegreen catch-all CA');
    const leaf = makeLeaf(ca, 'shop', ['shop.catch.test']);
    const ports = `${server.proxyPorts}\n${kind === 'classic' ? `127.0.0.1:${HTTPS_PORT}` : MODERN_HTTPS_PORT}:443`;
    const deploy = (app: string, hostname: string, extra: Record<string, string> = {}) =>
      runAction(serverInputs(server, { app, hostname, image: `${server.appImage}:v1`, 'health-timeout': '15s', 'proxy-ports': ports, ...extra }));
    expect((await deploy('shop', 'shop.catch.test', { tls: 'own', 'tls-certificate': leaf.cert, 'tls-key': leaf.key })).code).toBe(0);
    // A preview whose config sorts first ("aaa" < "shop"): nginx's implicit default before.
    const preview = await deploy('aaa-pr-7', 'pr-7.catch.test');
    expect(preview.code, preview.stdout).toBe(0);
    expect(await answerFor('pr-7.catch.test')).toBe('200');
    expect(await answerFor('unknown.catch.test')).toMatch(/^error: socket hang up/);
    expect(await answerFor('127.0.0.1')).toMatch(/^error: socket hang up/);
    // HTTPS for a name no app has: the handshake is refused, no certificate (and its names) shown.
    await expect(getHttpsThroughProxy(httpsPort, 'unknown.catch.test', ca.cert)).rejects.toThrow(/alert|handshake|unrecognized name|socket/i);
    expect(await getHttpsThroughProxy(httpsPort, 'shop.catch.test', ca.cert)).toMatchObject({ status: 200, body: 'v1' });

    expect((await runAction(serverInputs(server, { app: 'aaa-pr-7', command: 'remove' }))).code).toBe(0);
    expect(await answerFor('pr-7.catch.test')).toMatch(/^error: socket hang up/);

    // An app deployed without host names is the proxy's default on purpose: it gets the rest.
    const fallback = await deploy('fallback', '');
    expect(fallback.code, fallback.stdout).toBe(0);
    expect(await answerFor('unknown.catch.test')).toBe('200');
    expect(await getThroughProxy(server, 'unknown.catch.test')).toBe('200 v1');
    expect((await runAction(serverInputs(server, { app: 'fallback', command: 'remove' }))).code).toBe(0);
    expect(await answerFor('unknown.catch.test')).toMatch(/^error: socket hang up/);
    expect(await answerFor('shop.catch.test')).toBe('308');
  }, 240_000);
});
