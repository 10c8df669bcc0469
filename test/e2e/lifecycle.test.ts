import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { TestServer, remoteDocker, resetServer, serverInputs, testServer, getThroughProxy } from '../helpers/server';

let server: TestServer;
const stateDir = () => `/home/${server.user}/.bluegreen`;

function run(app: string, extra: Record<string, string>): Promise<ActionRun> {
  return runAction(serverInputs(server, { app, 'health-timeout': '8s', ...extra }));
}
const deploy = (app: string, version: string, extra: Record<string, string> = {}) => run(app, { image: `${server.appImage}:${version}`, ...extra });
const command = (app: string, name: string, extra: Record<string, string> = {}) => run(app, { command: name, image: '', ...extra });

const get = (host: string) => getThroughProxy(server, host);

const containers = (app: string) =>
  remoteDocker(server, ['ps', '-a', '--filter', `label=bluegreen.app=${app}`, '--format', '{{.Names}} {{.State}}'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .sort();

describe('many apps, previews, rollback, removal and status', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it('routes several apps by host name; deploying and removing one never disturbs another', async () => {
    expect((await deploy('alpha', 'v1', { hostname: 'alpha.test' })).code).toBe(0);
    expect((await deploy('beta', 'v2', { hostname: 'beta.test' })).code).toBe(0);
    expect(await get('alpha.test')).toBe('200 v1');
    expect(await get('beta.test')).toBe('200 v2');
    // The slot check the action makes inside the proxy is closed to everyone else.
    expect(await getThroughProxy(server, 'alpha.test', '/__bluegreen/slot/alpha')).toMatch(/^404 <html>/); // nginx's own 404, not the app's

    const load = startLoad({ port: server.proxyPort, hostHeader: 'alpha.test', steadyWorkers: 3, slowWorkers: 1, slowMs: 1500, maxSeconds: 90 });
    let redeploy: ActionRun, removal: ActionRun;
    try {
      redeploy = await deploy('beta', 'v1', { hostname: 'beta.test' });
      removal = await command('beta', 'remove');
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await load.stop();
    }
    expect(redeploy!.code, redeploy!.stdout).toBe(0);
    expect(removal!.code, removal!.stdout).toBe(0);
    expect(removal!.outputs).toMatchObject({ result: 'removed', 'active-slot': '' });
    expect(removal!.summary).toContain('🗑️ beta: removed');
    console.log(`load on alpha while beta was redeployed and removed: ${load.samples.length} requests, ${failures(load.samples).length} failed`);
    expect(load.samples.length).toBeGreaterThan(100);
    expect(failures(load.samples)).toEqual([]);
    expect(new Set(load.samples.map((s) => s.body))).toEqual(new Set(['v1']));

    expect(containers('beta')).toEqual([]);
    expect(existsSync(`${stateDir()}/nginx/beta.conf`)).toBe(false);
    // A removed app's host name is refused by the catch-all, not served by another app (alpha).
    await expect(get('beta.test')).rejects.toThrow(/socket hang up/);
    const history = readFileSync(`${stateDir()}/apps/beta/history.jsonl`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(history.map((h) => `${h.command} ${h.outcome}`)).toEqual(['deploy switched', 'deploy switched', 'remove removed']);
  }, 180_000);

  it('removes idempotently: twice, or an app that never existed, succeeds and says so', async () => {
    const again = await command('beta', 'remove');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('beta was not deployed on this server; nothing to remove');
    const never = await command('never-deployed', 'remove');
    expect(never.code, never.stdout).toBe(0);
    expect(never.outputs.result).toBe('removed');
    expect(await get('alpha.test')).toBe('200 v1');
  }, 60_000);

  it('rolls back by re-running an older job: nothing is sent, the old version is live again', async () => {
    expect((await deploy('alpha', 'v2', { hostname: 'alpha.test' })).outputs['active-slot']).toBe('green');
    const rerun = await deploy('alpha', 'v1', { hostname: 'alpha.test' });
    expect(rerun.code, rerun.stdout).toBe(0);
    expect(rerun.outputs).toMatchObject({ result: 'switched', 'bytes-sent': '0', 'active-slot': 'blue', 'previous-slot': 'green' });
    expect(rerun.summary).toContain('| **Sent** | already on server |');
    expect(await get('alpha.test')).toBe('200 v1');
  }, 90_000);

  it('rolls back with command: rollback to the kept previous container, under load, without a transfer', async () => {
    // alpha: blue runs v1 (live), green holds v2 stopped since the last deploy.
    expect(containers('alpha')).toEqual(['alpha-blue running', 'alpha-green exited']);
    const load = startLoad({ port: server.proxyPort, hostHeader: 'alpha.test', steadyWorkers: 3, slowWorkers: 1, slowMs: 1500, maxSeconds: 90 });
    let rollback: ActionRun;
    try {
      await new Promise((r) => setTimeout(r, 500));
      rollback = await command('alpha', 'rollback', { hostname: 'alpha.test' });
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await load.stop();
    }
    expect(rollback!.code, rollback!.stdout).toBe(0);
    expect(rollback!.outputs).toMatchObject({ result: 'switched', 'previous-slot': 'blue', 'active-slot': 'green', 'bytes-sent': '0' });
    expect(rollback!.summary).toContain('✅ alpha: rolled back BLUE → GREEN');
    expect(rollback!.stdout).not.toContain('Send ');
    expect(failures(load.samples)).toEqual([]);
    const bodies = load.samples.map((s) => s.body);
    expect(bodies[0]).toBe('v1');
    expect(bodies.at(-1)).toBe('v2');
    expect(containers('alpha')).toEqual(['alpha-blue exited', 'alpha-green running']);
  }, 120_000);

  it('refuses a rollback when there is nothing to roll back to, changing nothing', async () => {
    expect((await deploy('solo', 'v1', { hostname: 'solo.test' })).code).toBe(0);
    const before = readFileSync(`${stateDir()}/nginx/solo.conf`, 'utf8');
    const rollback = await command('solo', 'rollback', { hostname: 'solo.test' });
    expect(rollback.code).toBe(1);
    expect(rollback.stdout).toMatch(/::error::.*there is no previous version to roll back to \(solo-green does not exist\); nothing was changed/);
    expect(readFileSync(`${stateDir()}/nginx/solo.conf`, 'utf8')).toBe(before);
    expect(containers('solo')).toEqual(['solo-blue running']);
    const missing = await command('ghost', 'rollback');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('ghost has no live slot, so there is nothing to roll back from');
  }, 60_000);

  it('reports status: the live slot, its image, when and by which run, and recent deployments', async () => {
    const status = await command('alpha', 'status');
    expect(status.code, status.stdout).toBe(0);
    expect(status.outputs['active-slot']).toBe('green');
    const v2 = remoteDocker(server, ['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:v2`]).trim();
    expect(status.outputs['image-id']).toBe(v2);
    const history = JSON.parse(status.outputs.history) as Array<{ command: string; outcome: string; to: string; runUrl: string }>;
    expect(history.map((h) => `${h.command}:${h.to}`)).toEqual(['deploy:blue', 'deploy:green', 'deploy:blue', 'rollback:green']);
    expect(history.every((h) => h.runUrl === 'https://github.com/example/shop/actions/runs/4242')).toBe(true);
    expect(status.summary).toContain('ℹ️ alpha: GREEN is live');
    expect(status.summary).toContain(`| **Live container** | alpha-green (running), ${server.appImage}:v2 ${v2.slice(7, 19)} |`);
    expect(status.summary).toContain('### Recent runs');
    expect(status.summary).toMatch(/\| rollback \| switched \| .* \| BLUE → GREEN \|/);
    const history2 = readFileSync(`${stateDir()}/apps/alpha/history.jsonl`, 'utf8');
    expect(history2).not.toMatch(/PRIVATE KEY|API_TOKEN/);
  }, 60_000);

  it('leaves a live slot alone when it already runs this image with these settings, and redeploys when env changes', async () => {
    const idOf = (name: string) => remoteDocker(server, ['inspect', '-f', '{{.Id}}', name]).trim();
    const live = idOf('alpha-green');
    const same = await deploy('alpha', 'v2', { hostname: 'alpha.test' });
    expect(same.code, same.stdout).toBe(0);
    expect(same.outputs).toMatchObject({ result: 'unchanged', 'active-slot': 'green', 'bytes-sent': '0' });
    expect(same.summary).toContain('✅ alpha: GREEN already runs this version');
    expect(idOf('alpha-green')).toBe(live);

    // A config another version of the action wrote (here: an older template) is rewritten in place.
    const conf = `${stateDir()}/nginx/alpha.conf`;
    const written = readFileSync(conf, 'utf8');
    writeFileSync(conf, written.replace(/\n\s*client_max_body_size [^\n]*/, ''));
    const refreshed = await deploy('alpha', 'v2', { hostname: 'alpha.test' });
    expect(refreshed.outputs).toMatchObject({ result: 'unchanged', 'active-slot': 'green' });
    expect(refreshed.stdout).toContain('the proxy config of alpha is not what this run writes; rewriting it for green');
    expect(readFileSync(conf, 'utf8')).toBe(written);
    expect(idOf('alpha-green')).toBe(live);

    const changed = await deploy('alpha', 'v2', { hostname: 'alpha.test', env: 'FEATURE_FLAG=enabled' });
    expect(changed.outputs).toMatchObject({ result: 'switched', 'previous-slot': 'green', 'active-slot': 'blue' });
    expect(remoteDocker(server, ['inspect', '-f', '{{json .Config.Env}}', 'alpha-blue'])).toContain('FEATURE_FLAG=enabled');

    // The same image under a new host name: routed, not "unchanged".
    const renamed = await deploy('alpha', 'v2', { hostname: 'alpha-renamed.test', env: 'FEATURE_FLAG=enabled' });
    expect(renamed.outputs, renamed.stdout).toMatchObject({ result: 'switched', 'previous-slot': 'blue', 'active-slot': 'green' });
    expect(await get('alpha-renamed.test')).toBe('200 v2');
    expect(readFileSync(conf, 'utf8')).toMatch(/^# bluegreen-route: alpha-renamed\.test \/ serve /m);
    const hosts = readFileSync(`${stateDir()}/nginx/_hosts.conf`, 'utf8');
    expect(hosts).toMatch(/server_name alpha-renamed\.test;\n[^}]*include \/etc\/nginx\/conf\.d\/routes\/alpha\.locations;/);
    expect(hosts).not.toContain('server_name alpha.test;'); // the old name is no longer alpha's
  }, 120_000);
});
