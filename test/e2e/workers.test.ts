// Workers and worker-only apps (issue 23), on the classic and the Docker 28 server: a version's
// workers start beside the live ones, the switch waits for them, the old ones stop after it; a worker
// that exits stops the deploy with nothing switched; rollback brings back the previous web and
// workers; an app with web: false deploys, redeploys (new worker up before the old stops) and is
// removed without any proxy config. Web traffic is counted through the proxy throughout.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, type TestServer, containersOf, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';

/** What /version says inside a running container. */
const versionIn = (server: TestServer, container: string): string => remoteDocker(server, ['exec', container, 'cat', '/version']).trim();

/** A worker that says it is up, appends its start and stop to LOG (when given), and exits on SIGTERM. */
function workerCommand(name: string, log = ''): string {
  const note = (event: string) => (log ? `echo "${name} $(cat /version) ${event}" >> ${log}; ` : '');
  return `sh -c 'stop() { ${note('stop')}exit 0; }; trap stop TERM; ${note('start')}echo "${name} $(cat /version) up"; while :; do sleep 0.2; done'`;
}

describe.each(SERVER_KINDS)('workers (%s server)', (kind) => {
  const server = testServer(kind);

  it('v1 → v2 with workers under load; a v3 whose worker exits switches nothing; rollback brings back the previous web and workers', async () => {
    resetServer(server);
    const app = 'wk';
    const host = 'wk.test';
    const jobs = `jobs: ${workerCommand('jobs')}`;
    const deploy = (version: string, workers: string): Promise<ActionRun> =>
      runAction(serverInputs(server, { app, hostname: host, 'health-timeout': '20s', 'worker-grace': '2s', image: `${server.appImage}:${version}`, workers }));
    const first = await deploy('v1', jobs);
    expect(first.code, first.stdout).toBe(0);
    expect(containersOf(server, app)).toEqual([`${app}-blue running`, `${app}-blue-jobs-1 running`]);

    const load = startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 2, maxSeconds: 240 });
    let second: ActionRun, third: ActionRun, back: ActionRun;
    let afterSecond: string[], afterThird: string[], greenJobs: string;
    try {
      second = await deploy('v2', `${jobs}\nmail*2: ${workerCommand('mail')}`);
      afterSecond = containersOf(server, app);
      third = await deploy('v3', `${jobs}\nmail*2: sh -c 'echo "mail cannot reach the queue" >&2; exit 4'`);
      afterThird = containersOf(server, app);
      greenJobs = versionIn(server, `${app}-green-jobs-1`);
      back = await runAction(serverInputs(server, { app, command: 'rollback', image: '' }));
    } finally {
      await load.stop();
    }
    expect(second.code, second.stdout).toBe(0);
    const lines = second.stdout.split('\n');
    const at = (text: string) => lines.findIndex((line) => line.includes(text));
    expect(at(`starting worker ${app}-green-mail-2`)).toBeGreaterThan(-1);
    expect(at('every worker is up')).toBeGreaterThan(at(`starting worker ${app}-green-mail-2`));
    expect(at('proxy switched blue -> green')).toBeGreaterThan(at('every worker is up'));
    expect(at('stopping the previous workers')).toBeGreaterThan(at('proxy switched blue -> green'));
    expect(afterSecond).toEqual([
      `${app}-blue exited`,
      `${app}-blue-jobs-1 exited`,
      `${app}-green running`,
      `${app}-green-jobs-1 running`,
      `${app}-green-mail-1 running`,
      `${app}-green-mail-2 running`,
    ]);
    expect(second.summary).toContain('### Workers');
    expect(second.summary).toMatch(/\| mail \| wk-green-mail-2 \| running \|/);

    expect(third.code, third.stdout).toBe(3);
    expect(third.summary).toContain('a worker of');
    expect(third.summary).toContain('GREEN still live');
    expect(third.summary).toContain('mail cannot reach the queue');
    expect(third.outputs['active-slot']).toBe('green');
    // v3's web and workers are gone; v1's (set aside meanwhile) are back as the version to roll back to.
    expect(afterThird).toEqual(afterSecond);
    expect(greenJobs).toBe('v2');

    expect(back.code, back.stdout).toBe(0);
    expect(containersOf(server, app)).toEqual([
      `${app}-blue running`,
      `${app}-blue-jobs-1 running`,
      `${app}-green exited`,
      `${app}-green-jobs-1 exited`,
      `${app}-green-mail-1 exited`,
      `${app}-green-mail-2 exited`,
    ]);
    expect(versionIn(server, `${app}-blue-jobs-1`)).toBe('v1');
    const samples = load.samples;
    console.log(`workers (${kind}): ${samples.length} requests, ${failures(samples).length} failed`);
    expect(samples.length).toBeGreaterThan(200);
    expect(failures(samples)).toEqual([]);

    const status = await runAction(serverInputs(server, { app, command: 'status', image: '' }));
    expect(status.code, status.stdout).toBe(0);
    expect(status.summary).toMatch(/\| jobs \| wk-blue-jobs-1 \| running \|/);
    const removed = await runAction(serverInputs(server, { app, command: 'remove', image: '' }));
    expect(removed.code, removed.stdout).toBe(0);
    expect(containersOf(server, app)).toEqual([]);
    resetServer(server);
  }, 400_000);

  it('a worker-only app (web: false) deploys, redeploys with the new worker up before the old stops, and is removed; it has no proxy config', async () => {
    resetServer(server);
    const app = 'wonly';
    remoteDocker(server, ['volume', 'rm', '-f', 'wonly-log']);
    const log = '/data/log/events';
    const inputs = (version: string) =>
      serverInputs(server, { app, web: 'false', 'worker-grace': '1s', volumes: 'wonly-log:/data/log', image: `${server.appImage}:${version}`, workers: `queue: ${workerCommand('queue', log)}` });
    const first = await runAction(inputs('v1'));
    expect(first.code, first.stdout).toBe(0);
    expect(first.outputs.url).toBe('');
    expect(first.summary).toContain('switched none → BLUE');
    expect(existsSync(`${server.home}/.bluegreen/nginx/${app}.conf`)).toBe(false);
    const unchanged = await runAction(inputs('v1'));
    expect(unchanged.code, unchanged.stdout).toBe(0);
    expect(unchanged.summary).toContain('already runs this version');

    const second = await runAction(inputs('v2'));
    expect(second.code, second.stdout).toBe(0);
    expect(containersOf(server, app)).toEqual([`${app}-blue-queue-1 exited`, `${app}-green-queue-1 running`]);
    const events = remoteDocker(server, ['run', '--rm', '-v', 'wonly-log:/data/log', `${server.appImage}:v1`, 'cat', log])
      .trim()
      .split('\n');
    expect(events).toEqual(['queue v1 start', 'queue v2 start', 'queue v1 stop']);
    expect(existsSync(`${server.home}/.bluegreen/nginx/${app}.conf`)).toBe(false);

    const logs = await runAction(serverInputs(server, { app, command: 'logs', image: '' }));
    expect(logs.code, logs.stdout).toBe(0);
    expect(logs.stdout).toContain('queue v2 up');
    const back = await runAction(serverInputs(server, { app, command: 'rollback', image: '' }));
    expect(back.code, back.stdout).toBe(0);
    expect(containersOf(server, app)).toEqual([`${app}-blue-queue-1 running`, `${app}-green-queue-1 exited`]);

    const removed = await runAction(serverInputs(server, { app, command: 'remove', image: '' }));
    expect(removed.code, removed.stdout).toBe(0);
    expect(containersOf(server, app)).toEqual([]);
    const after = await runAction(serverInputs(server, { app, command: 'status', image: '' }));
    expect(after.summary).not.toContain('### Workers');
    remoteDocker(server, ['volume', 'rm', '-f', 'wonly-log']);
    resetServer(server);
  }, 300_000);
});
