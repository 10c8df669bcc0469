// The deploy's receipt (issue 25, work in progress), on both servers: the proxy's own count of the
// requests that reached the app while a version went live equals what the load generator saw. The
// load runs only inside the window (it starts once the new version starts, and stops once the old
// one drained), so every request it sent is one the receipt must count, and no other.
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { type Sample, failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, resetServer, serverInputs, testServer } from '../helpers/server';
import type { Traffic } from '../../src/remote/result';

describe.each(SERVER_KINDS)('the receipt (%s server)', (kind) => {
  const server = testServer(kind);
  const host = 'receipt.test';
  const deploy = (version: string, onLine?: (line: string) => void): Promise<ActionRun> =>
    runAction(serverInputs(server, { app: 'receipt', hostname: host, image: `${server.appImage}:${version}`, 'health-timeout': '10s', 'drain-seconds': '3' }), { onLine });

  it('counts exactly the requests of the window, per slot, with 0 failed', async () => {
    resetServer(server);
    expect((await deploy('v1')).code).toBe(0);
    let load: ReturnType<typeof startLoad> | undefined;
    let stopped: Promise<Sample[]> | undefined;
    const run = await deploy('v2', (line) => {
      if (!load && line.includes('[start] starting receipt-green')) load = startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 3, slowWorkers: 1, slowMs: 500, maxSeconds: 60 });
      if (load && !stopped && line.includes('drained after')) stopped = load.stop();
    });
    const samples = (await stopped) ?? [];
    expect(run.code, run.stdout).toBe(0);
    expect(samples.length).toBeGreaterThan(50);
    const traffic = JSON.parse(run.outputs.traffic) as Traffic;
    expect(traffic.requests).toBe(samples.length);
    expect(traffic.failed).toBe(failures(samples).length);
    expect(traffic.failed).toBe(0);
    expect(run.outputs['failed-requests']).toBe('0');
    // Both slots answered some: the old one until the switch, the new one after it.
    expect(Object.keys(traffic.slots).sort()).toEqual(['blue', 'green']);
    expect(traffic.slots.blue.requests + traffic.slots.green.requests).toBe(samples.length);
    const byVersion = (v: string) => samples.filter((s) => s.body.startsWith(v) || s.body.includes(` ${v}`)).length;
    expect(traffic.slots.green.requests).toBe(byVersion('v2'));
    expect(run.summary).toContain('### Traffic during the deploy');
    console.log(
      `receipt (${kind}): ${traffic.requests} requests, blue ${traffic.slots.blue.requests}, green ${traffic.slots.green.requests}, failed ${traffic.failed}; the load generator: ${samples.length}, failed ${failures(samples).length}`,
    );
  });
});
