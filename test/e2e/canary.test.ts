// rollout: canary and bake-seconds (issue 25), under load through the proxy on the classic server
// (the split, the cookie and the judge are the proxy config's and the script's, the same on either).
// A bad version here passes its health check but answers 500 to every second request of / (the test
// app's FAIL_EVERY=2): only a judge of real traffic can catch it.
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { type Sample, failures, startCookieClients, startLoad } from '../helpers/load';
import { containersOf, resetServer, serverInputs, testServer } from '../helpers/server';
import type { Traffic, Trial } from '../../src/remote/result';

describe('rollout: canary and bake-seconds (classic server)', () => {
  const server = testServer('classic');
  const host = 'canary.test';
  const deploy = (version: string, extra: Record<string, string> = {}, onLine?: (line: string) => void): Promise<ActionRun> =>
    runAction(serverInputs(server, { app: 'canary', hostname: host, image: `${server.appImage}:${version}`, 'health-timeout': '10s', 'health-path': '/health', 'drain-seconds': '3', ...extra }), {
      onLine,
    });
  const canary = { rollout: 'canary', 'canary-percent': '20', 'canary-seconds': '15s' };
  const load = () => startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 4, slowWorkers: 0, maxSeconds: 90 });
  const trialsOf = (run: ActionRun) => JSON.parse(run.outputs.trials) as Trial[];

  it('a version failing every second request is reverted: only its share failed, the receipt counts exactly those, v1 serves on', async () => {
    resetServer(server);
    expect((await deploy('v1')).code).toBe(0);
    const traffic = load();
    let samples: Sample[];
    let run: ActionRun;
    try {
      run = await deploy('v2', { ...canary, env: 'FAIL_EVERY=2' });
    } finally {
      samples = await traffic.stop();
    }
    expect(run.code, run.stdout).toBe(3);
    expect(run.outputs.result).toBe('failed');
    expect(run.stdout).toMatch(/canary reverted: \d+ of its \d+ requests failed \([\d.]+%\), more than canary-max-error-rate \(1\.00%\); blue serves every request again/);
    const [trial] = trialsOf(run);
    expect(trial).toMatchObject({ kind: 'canary', decision: 'reverted', percent: 20, candidate: { slot: 'green' }, live: { slot: 'blue' } });
    expect(trial.ms).toBeLessThan(15_000); // judged as soon as it had canary-min-requests
    const failed = failures(samples);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((s) => s.status === 500 && s.body.includes('failed on purpose'))).toBe(true);
    // Only its share: the failures are half of what reached the canary, a fraction of all requests.
    const receipt = JSON.parse(run.outputs.traffic) as Traffic;
    expect(Number(run.outputs['failed-requests'])).toBe(failed.length);
    expect(receipt.slots.green.requests).toBeLessThan(receipt.slots.blue.requests);
    expect(receipt.slots.green['5xx']).toBe(failed.length);
    expect(run.summary).toContain('### The new version on real traffic');
    expect(run.summary).toContain('❌ reverted');
    // v1 serves on, the candidate is gone.
    expect(containersOf(server, 'canary')).toEqual(['canary-blue running']);
    const after = startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 1, slowWorkers: 0, maxRequests: 20, maxSeconds: 10 });
    expect((await after.stop()).every((s) => s.status === 200 && s.body === 'v1')).toBe(true);
    console.log(
      `canary reverted after ${trial.ms} ms: ${samples.length} requests, ${failed.length} failed (green had ${receipt.slots.green.requests}); receipt failed-requests ${run.outputs['failed-requests']}`,
    );
  }, 120_000);

  it('a good version is promoted with 0 failed; each client keeps its side during the canary; canary-header testers always get it', async () => {
    const traffic = load();
    let clients: ReturnType<typeof startCookieClients> | undefined;
    let testers: ReturnType<typeof startCookieClients> | undefined;
    let stopped: Promise<[string[][], string[][]]> | undefined;
    let run: ActionRun;
    let samples: Sample[];
    try {
      run = await deploy('v2', { ...canary, 'canary-header': 'X-Canary: yes' }, (line) => {
        if (line.includes('canary: 20% of the clients')) {
          clients = startCookieClients({ port: server.proxyPort, hostHeader: host, clients: 40, maxSeconds: 30 });
          testers = startCookieClients({ port: server.proxyPort, hostHeader: host, clients: 2, headers: { 'X-Canary': 'yes' }, maxSeconds: 30 });
        }
        if (line.includes('canary: green promoted') && clients && testers) {
          stopped = Promise.all([clients.stop(), testers.stop()]);
        }
      });
    } finally {
      samples = await traffic.stop();
    }
    const [sticky, tested] = (await stopped) ?? [[], []];
    expect(run.code, run.stdout).toBe(0);
    expect(failures(samples)).toEqual([]);
    expect(run.outputs['failed-requests']).toBe('0');
    const [trial] = trialsOf(run);
    expect(trial).toMatchObject({ kind: 'canary', decision: 'promoted', percent: 20 });
    expect(trial.candidate.requests).toBeGreaterThan(20);
    expect(trial.ms).toBeGreaterThanOrEqual(15_000);
    expect(run.outputs['active-slot']).toBe('green');
    // Sticky: every client saw one version from its first answer on (the cookie came with it).
    expect(sticky.length).toBe(40);
    const versions = sticky.map((answers) => [...new Set(answers)]);
    for (const seen of versions) expect(seen).toHaveLength(1);
    const onCanary = versions.filter(([only]) => only === '200 v2').length;
    expect(onCanary).toBeGreaterThan(0);
    expect(onCanary).toBeLessThan(40);
    for (const answers of tested) expect(new Set(answers)).toEqual(new Set(['200 v2']));
    console.log(`canary promoted: ${samples.length} requests, 0 failed; ${onCanary} of 40 cookie clients on v2 throughout, ${tested.flat().length} tester requests all v2`);
  }, 120_000);

  it('bake-seconds: a version that fails after the full switch is switched back within the bake; the old slot never stopped', async () => {
    const traffic = load();
    let samples: Sample[];
    let run: ActionRun;
    try {
      run = await deploy('v1', { 'bake-seconds': '20s', env: 'FAIL_EVERY=2' }); // v1 again, now failing every second request
    } finally {
      samples = await traffic.stop();
    }
    expect(run.code, run.stdout).toBe(3);
    expect(run.stdout).toMatch(/bake reverted: \d+ of its \d+ requests failed/);
    const [trial] = trialsOf(run);
    expect(trial).toMatchObject({ kind: 'bake', decision: 'reverted', percent: 100, candidate: { slot: 'blue' }, live: { slot: 'green' } });
    expect(trial.ms).toBeLessThan(20_000);
    expect(run.outputs['active-slot']).toBe('green');
    const failed = failures(samples);
    expect(failed.length).toBeGreaterThan(0);
    expect(Number(run.outputs['failed-requests'])).toBe(failed.length);
    expect(containersOf(server, 'canary')).toEqual(['canary-blue exited', 'canary-green running']); // blue holds v1 again, for rollback
    const after = startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 1, slowWorkers: 0, maxRequests: 20, maxSeconds: 10 });
    expect((await after.stop()).every((s) => s.status === 200 && s.body === 'v2')).toBe(true);
    console.log(`bake switched back after ${trial.ms} ms: ${samples.length} requests, ${failed.length} failed`);
  }, 120_000);
});
