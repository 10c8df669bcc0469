// path-prefix and strip-prefix (issue 23), on the classic and the Docker 28 server: three apps share
// one host name by path (/, /api with strip-prefix, /legacy without), each gets only its own paths
// (the longest prefix wins, /apix is not /api), health checks go through the prefix, a fourth app
// claiming a taken host name and prefix is refused, and every app keeps serving, 0 failed, while
// each of them is deployed under load. Removing the /api app gives its paths back to /.
import { describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, getThroughProxy, resetServer, serverInputs, testServer } from '../helpers/server';

const HOST = 'pp.test';

describe.each(SERVER_KINDS)('path-prefix and strip-prefix (%s server)', (kind) => {
  const server = testServer(kind);
  const apps: Record<string, Record<string, string>> = {
    front: {},
    api: { 'path-prefix': '/api/', 'strip-prefix': 'true' },
    // An app that knows it lives under /legacy (BASE_PATH): nothing stripped, health-path taken under the prefix.
    legacy: { 'path-prefix': '/legacy', env: 'BASE_PATH=/legacy', 'health-path': '/health' },
  };
  const deploy = (app: string, version: string, extra: Record<string, string> = {}) =>
    runAction(serverInputs(server, { app, hostname: HOST, image: `${server.appImage}:${version}`, 'health-timeout': '20s', ...apps[app], ...extra }));

  /** Deploys each app in turn (in the order given), each one succeeding. */
  const deployEach = async (versions: Record<string, string>) => {
    for (const [app, version] of Object.entries(versions)) {
      const run = await deploy(app, version);
      expect(run.code, run.stdout).toBe(0);
    }
  };

  it('routes each path to its app, strips where asked, refuses a taken prefix, and serves through every deploy with 0 failed', async () => {
    resetServer(server);
    await deployEach({ front: 'v1', api: 'v2', legacy: 'v1' });
    const api = await deploy('api', 'v2');
    expect(api.outputs.url).toBe(`http://${HOST}/api/`);
    // The check after the switch went through the prefix: /api (strip-prefix makes it / for the app).
    const legacyRun = await deploy('legacy', 'v2');
    expect(legacyRun.code, legacyRun.stdout).toBe(0);
    expect(legacyRun.stdout).toMatch(/http:\/\/legacy-(blue|green):8080\/legacy\/health/);

    expect(await getThroughProxy(server, HOST, '/whoami')).toBe('200 v1 path=/whoami prefix=-');
    expect(await getThroughProxy(server, HOST, '/api/whoami?x=1')).toBe('200 v2 path=/whoami?x=1 prefix=/api');
    expect(await getThroughProxy(server, HOST, '/api')).toBe('200 v2');
    expect(await getThroughProxy(server, HOST, '/apix/whoami')).toBe('200 v1 path=/apix/whoami prefix=-'); // not under /api
    expect(await getThroughProxy(server, HOST, '/legacy/whoami')).toBe('200 v2 path=/legacy/whoami prefix=-');
    expect(await getThroughProxy(server, HOST, '/legacy')).toBe('200 v2');

    // A fourth app on the same host name and prefix (written another way) is refused; nothing changes.
    const taken = await runAction(serverInputs(server, { app: 'thief', hostname: HOST, 'path-prefix': '/api', image: `${server.appImage}:v1` }));
    expect(taken.code).not.toBe(0);
    expect(taken.stdout).toContain(`host name ${HOST}, path /api, is already served by app api`);
    expect(await getThroughProxy(server, HOST, '/api/whoami')).toBe('200 v2 path=/whoami prefix=/api');

    // An app under a prefix whose health is not answered there (no BASE_PATH: /broken is 404 to it) never gets traffic.
    const broken = await runAction(serverInputs(server, { app: 'broken', hostname: HOST, 'path-prefix': '/broken', image: `${server.appImage}:v1`, 'health-timeout': '4s' }));
    expect(broken.code, broken.stdout).toBe(3);
    expect(broken.stdout).toContain('/broken');
    expect(await getThroughProxy(server, HOST, '/broken/whoami')).toBe('200 v1 path=/broken/whoami prefix=-'); // still the / app's

    const load = startLoad({ port: server.proxyPort, hostHeader: HOST, steadyWorkers: 3, steadyPaths: ['/', '/api/health', '/legacy/health'], slowWorkers: 0, maxSeconds: 240 });
    try {
      await deployEach({ api: 'v1', front: 'v2', legacy: 'v1' });
    } finally {
      await load.stop();
    }
    console.log(`${kind}: three apps on one host name, each deployed under load: ${load.samples.length} requests, ${failures(load.samples).length} failed`);
    expect(failures(load.samples)).toEqual([]);
    expect(load.samples.length).toBeGreaterThan(100);
    expect(await getThroughProxy(server, HOST, '/api/whoami')).toBe('200 v1 path=/whoami prefix=/api');
    expect(await getThroughProxy(server, HOST, '/whoami')).toBe('200 v2 path=/whoami prefix=-');

    // A rollback given only the app keeps the recorded prefix and strip-prefix, and says where it serves.
    const back = await runAction(serverInputs(server, { app: 'api', command: 'rollback' }));
    expect(back.code, back.stdout).toBe(0);
    expect(back.outputs.url).toBe(`http://${HOST}/api/`);
    expect(await getThroughProxy(server, HOST, '/api/whoami')).toBe('200 v2 path=/whoami prefix=/api');

    // Removing the /api app gives /api back to the / app; the other prefix stays.
    const removed = await runAction(serverInputs(server, { app: 'api', command: 'remove' }));
    expect(removed.code, removed.stdout).toBe(0);
    expect(await getThroughProxy(server, HOST, '/api/whoami')).toBe('200 v2 path=/api/whoami prefix=-');
    expect(await getThroughProxy(server, HOST, '/legacy/whoami')).toBe('200 v1 path=/legacy/whoami prefix=-');
  }, 420_000);
});
