import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { TestServer, remoteDocker, resetServer, serverInputs, testServer, getThroughProxy } from '../helpers/server';

let server: TestServer;
const deploy = (app: string, version: string, extra: Record<string, string> = {}) => runAction(serverInputs(server, { app, image: `${server.appImage}:${version}`, ...extra }));
const confOf = (app: string) => `/home/${server.user}/.bluegreen/nginx/${app}.conf`;
const names = (app: string) => remoteDocker(server, ['ps', '-a', '--filter', `label=bluegreen.app=${app}`, '--format', '{{.Names}}']).trim();

const get = (host: string) => getThroughProxy(server, host);

describe('a proxy switch that goes wrong is undone', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it('when nginx -t refuses the new config: the previous config is back, the candidate is gone, the step fails', async () => {
    // An app deployed by an earlier version of the action has its own server blocks (no route lines):
    // here the default server. A second app without a host name is a second default server: nginx -t says no.
    const legacy = confOf('first');
    expect((await deploy('other', 'v1', { hostname: 'other.test' })).code).toBe(0);
    writeFileSync(
      legacy,
      '# bluegreen: app=first slot=blue container=first-blue\nserver {\n    listen 80 default_server;\n    server_name _;\n    location / {\n        return 200 "v1\\n";\n    }\n}\n',
    );
    // Unchanged, but the catch-all must give way to that default server: rewritten, and the proxy reloaded with both.
    const reloaded = await deploy('other', 'v1', { hostname: 'other.test' });
    expect(reloaded.stdout).toContain("the proxy's catch-all for unknown host names is not what this run writes; rewriting it");
    expect(await get('anything.test')).toBe('200 v1');
    const run = await deploy('second', 'v2');
    expect(run.code).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.stdout).toMatch(
      /::error::second on 127\.0\.0\.1: nginx -t refused the config for blue \(.*duplicate default server.*\); the previous config is back: another app is already the default server, give this one a hostname/,
    );
    expect(existsSync(confOf('second'))).toBe(false);
    expect(names('second')).toBe('');
    expect(await get('anything.test')).toBe('200 v1');
    expect(await get('other.test')).toBe('200 v1');
    // Two apps of this version without a host name: refused before anything starts.
    rmSync(legacy);
    expect((await deploy('third', 'v2')).code).toBe(0);
    const fourth = await deploy('fourth', 'v1');
    expect(fourth.code).toBe(1);
    expect(fourth.stdout).toContain('another app (third) is already the default server (no hostname) for path /: give this one a hostname or another path-prefix; nothing was changed');
    expect(fourth.stdout).not.toContain('[start]');
    expect(names('fourth')).toBe('');
    expect(await get('anything.test')).toBe('200 v2');
    expect((await runAction(serverInputs(server, { app: 'third', command: 'remove' }))).code).toBe(0);
  }, 90_000);

  it('refuses a host name that another app already has: the other app keeps it', async () => {
    expect((await deploy('owner', 'v1', { hostname: 'shared.test' })).code).toBe(0);
    for (const intruder of ['aaa-intruder', 'zzz-intruder']) {
      // nginx itself only warns and routes the name to whichever file it reads first: refused before anything starts.
      const run = await deploy(intruder, 'v2', { hostname: 'shared.test' });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        `::error::${intruder} on 127.0.0.1: host name shared.test, path /, is already served by app owner: two apps cannot serve one host name and path-prefix; nothing was changed`,
      );
      expect(existsSync(confOf(intruder))).toBe(false);
      expect(names(intruder)).toBe('');
      expect(await get('shared.test')).toBe('200 v1');
    }
  }, 60_000);

  it('when the new version does not answer healthy through the proxy after the reload: it is switched back', async () => {
    // Healthy when asked directly, 400 behind the proxy: an app that refuses proxied requests.
    expect((await deploy('hosts', 'v1', { hostname: 'hosts.test' })).code).toBe(0);
    const run = await deploy('hosts', 'v2', { hostname: 'hosts.test', env: 'REFUSE_PROXIED=1' });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('the proxy does not answer healthy from green for Host: hosts.test (last answer: 400)');
    expect(run.stdout).toMatch(/::error::hosts on 127\.0\.0\.1: after the reload the proxy did not answer healthy from green; switched back to blue/);
    expect(run.outputs).toMatchObject({ result: 'failed', 'active-slot': 'blue' });
    expect(names('hosts').split('\n').sort()).toEqual(['hosts-blue']);
    expect(await get('hosts.test')).toBe('200 v1');
  }, 60_000);
});
