import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { Sample, failures, startLoad } from '../helpers/load';
import { TestServer, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;

/** When the test received the action's log lines (a little after the server printed them). */
interface TimedRun extends ActionRun {
  healthyAt?: number; // "... is healthy after": printed before the switch starts
  servingAt?: number; // "the proxy serves ...": printed after the switch took effect
}

/** How late a log line may reach the test after the server printed it, on a loaded 2-core machine. */
const LOG_LAG_MS = 1000;

async function deploy(version: string, extra: Record<string, string> = {}): Promise<TimedRun> {
  const marks: { healthyAt?: number; servingAt?: number } = {};
  const run = await runAction(serverInputs(server, { app: 'shop', image: `${server.appImage}:${version}`, 'health-timeout': '8s', ...extra }), {
    onLine: (line) => {
      if (line.includes('is healthy after')) marks.healthyAt = Date.now();
      if (line.includes('the proxy serves')) marks.servingAt = Date.now();
    },
  });
  return Object.assign(run, marks);
}

function versionsOf(samples: Sample[]): string[] {
  return [...new Set(samples.filter((s) => s.kind === 'steady').map((s) => s.body))];
}

/**
 * Every steady request that ended before the switch began got `before`; every one that started after
 * the switch took effect got `after` (up to `until`, the next switch).
 */
function expectSwitchAt(samples: Sample[], run: TimedRun, before: string, after: string, until = Infinity): void {
  expect(run.healthyAt, 'the action logs the health check passing').toBeDefined();
  expect(run.servingAt, 'the action logs the switch taking effect').toBeDefined();
  const steady = samples.filter((s) => s.kind === 'steady' && s.status === 200);
  const early = steady.filter((s) => s.end < run.healthyAt! - LOG_LAG_MS);
  const late = steady.filter((s) => s.start > run.servingAt! && s.end < until);
  expect(early.length).toBeGreaterThan(0);
  expect(late.length).toBeGreaterThan(0);
  expect(versionsOf(early)).toEqual([before]);
  expect(versionsOf(late)).toEqual([after]);
}

describe('blue-green deploys under load', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it('switches v1 -> v2 -> v1 and refuses an unhealthy v3 with no failed request', async () => {
    const first = await deploy('v1');
    expect(first.code, first.stdout).toBe(0);
    expect(first.outputs.result).toBe('switched');
    expect(first.outputs['active-slot']).toBe('blue');

    const load = startLoad({ port: server.proxyPort, steadyWorkers: 4, slowWorkers: 2, slowMs: 2000, maxSeconds: 150 });
    const steps: Array<[TimedRun, string]> = [];
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const toV2 = await deploy('v2');
      steps.push([toV2, 'v2']);
      const backToV1 = await deploy('v1');
      steps.push([backToV1, 'v1']);
      const broken = await deploy('v3', { 'health-timeout': '5s' });
      steps.push([broken, 'v3']);
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      await load.stop();
    }
    const samples = load.samples;
    const [[toV2], [backToV1], [broken]] = steps;

    expect(toV2.code, toV2.stdout).toBe(0);
    expect(toV2.outputs).toMatchObject({ result: 'switched', 'previous-slot': 'blue', 'active-slot': 'green' });
    expect(backToV1.code, backToV1.stdout).toBe(0);
    expect(backToV1.outputs).toMatchObject({ result: 'switched', 'previous-slot': 'green', 'active-slot': 'blue' });
    expect(backToV1.outputs['bytes-sent']).toBe('0'); // v1 was still on the server

    expect(broken.code).toBe(3);
    expect(broken.outputs).toMatchObject({ result: 'failed', 'active-slot': 'blue' });
    expect(broken.stdout).toMatch(/did not become healthy/);
    // The broken candidate is gone; GREEN holds v2 again (stopped), still the version to roll back to.
    expect(remoteDocker(server, ['ps', '-a', '--filter', 'name=shop-green', '--format', '{{.Names}} {{.State}} {{.Label "bluegreen.image"}}']).trim()).toBe(`shop-green exited ${server.appImage}:v2`);

    const slow = samples.filter((s) => s.kind === 'slow');
    console.log(`load: ${samples.length} requests (${slow.length} slow), ${failures(samples).length} failed`);
    expect(samples.length).toBeGreaterThan(200);
    expect(slow.length).toBeGreaterThan(10);
    expect(failures(samples)).toEqual([]);
    expectSwitchAt(samples, toV2, 'v1', 'v2', backToV1.healthyAt! - LOG_LAG_MS);
    expectSwitchAt(
      samples.filter((s) => s.start > toV2.servingAt!),
      backToV1,
      'v2',
      'v1',
    );
    // v3 never got traffic: after the switch back to v1, v1 answered everything.
    expect(versionsOf(samples.filter((s) => s.start > backToV1.servingAt!))).toEqual(['v1']);
  }, 240_000);

  it('serialises two deploys of one app started at once', async () => {
    const [a, b] = await Promise.all([deploy('v2', { 'lock-timeout': '2m' }), deploy('v1', { 'lock-timeout': '2m' })]);
    expect(a.code, a.stdout).toBe(0);
    expect(b.code, b.stdout).toBe(0);
    const waited = [a, b].filter((run) => run.stdout.includes('holds the lock; waiting'));
    expect(waited).toHaveLength(1);
    const last = waited[0] === a ? 'v2' : 'v1';
    const live = [a, b].find((run) => run === waited[0])!.outputs['active-slot'];
    const running = remoteDocker(server, ['ps', '--filter', 'label=bluegreen.app=shop', '--format', '{{.Names}} {{.Label "bluegreen.image"}}']).trim().split('\n');
    expect(running).toEqual([`shop-${live} ${server.appImage}:${last}`]);
    const res = await fetch(`http://127.0.0.1:${server.proxyPort}/`);
    expect((await res.text()).trim()).toBe(last);
  }, 120_000);

  it('fails clearly when the lock stays busy, changing nothing', async () => {
    const holder = remoteDocker(server, ['ps', '--filter', 'label=bluegreen.app=shop', '--format', '{{.Names}}']).trim();
    const lockPath = `/home/${server.user}/.bluegreen/apps/shop/lock`;
    const { spawn } = await import('node:child_process');
    const hold = spawn('flock', [lockPath, 'sleep', '8']);
    await new Promise((r) => setTimeout(r, 300));
    try {
      const run = await deploy('v2', { 'lock-timeout': '2s' });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/still held the lock after 2s; nothing was changed/);
      expect(remoteDocker(server, ['ps', '--filter', 'label=bluegreen.app=shop', '--format', '{{.Names}}']).trim()).toBe(holder);
    } finally {
      hold.kill();
    }
  }, 60_000);
});

describe('a job cancelled in the middle of a deploy', () => {
  beforeAll(() => {
    server = testServer();
  });

  it('still finishes on the server: the switch completes and is recorded, nothing is half-done', async () => {
    resetServer(server);
    expect((await runAction(serverInputs(server, { app: 'shop', image: `${server.appImage}:v1` }))).code).toBe(0);
    const [liveSlot, next] = ['blue', 'v2'];
    let killed = false;
    let action: ChildProcess | undefined;
    const run = runAction(serverInputs(server, { app: 'shop', image: `${server.appImage}:${next}` }), {
      onStart: (child) => (action = child),
      onLine: (line) => {
        // Cancel the job as soon as the health check starts: the runner process dies at once (by its PID).
        if (!killed && line.includes('[health] checking')) {
          killed = true;
          action!.kill('SIGKILL');
        }
      },
    });
    const result = await run;
    expect(killed).toBe(true);
    expect(result.code).not.toBe(0);
    const target = liveSlot === 'blue' ? 'green' : 'blue';
    let conf = '';
    for (let i = 0; i < 100 && !conf.includes(`slot=${target}`); i++) {
      await new Promise((r) => setTimeout(r, 200));
      conf = remoteDocker(server, ['exec', 'bluegreen-proxy', 'head', '-n', '1', '/etc/nginx/conf.d/shop.conf']);
    }
    expect(conf).toContain(`slot=${target}`);
    let history = '';
    for (let i = 0; i < 50 && !history.includes(`"to":"${target}"`); i++) {
      await new Promise((r) => setTimeout(r, 200));
      history = readFileSync(`/home/${server.user}/.bluegreen/apps/shop/history.jsonl`, 'utf8').trim().split('\n').at(-1)!;
    }
    expect(JSON.parse(history)).toMatchObject({ command: 'deploy', outcome: 'switched', from: liveSlot, to: target });
    expect((await fetch(`http://127.0.0.1:${server.proxyPort}/`).then((r) => r.text())).trim()).toBe(next);
  }, 90_000);
});
