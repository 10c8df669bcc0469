// The deploy's receipt (issue 25), on both servers: the proxy's own count of the requests that
// reached the app while a version went live equals what the load generator saw. The load runs only
// inside the window (it starts once the new version started, and stops once the old one drained), so
// every request it sent is one the receipt must count, and no other. Short requests only: one still
// in flight when the load stops ends long before the count closes the window (after the stop and the
// prune); a long one (a 500 ms request sent just before) could end after it and go uncounted, as
// the window says (test/e2e/drain.test.ts covers long requests).
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { type Sample, failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';
import type { Traffic } from '../../src/remote/result';

describe.each(SERVER_KINDS)('the receipt (%s server)', (kind) => {
  const server = testServer(kind);
  const host = 'receipt.test';
  const deploy = (version: string, onLine?: (line: string) => void): Promise<ActionRun> =>
    runAction(serverInputs(server, { app: 'receipt', hostname: host, image: `${server.appImage}:${version}`, 'health-timeout': '10s', 'drain-seconds': '3' }), { onLine });

  /** Deploys the version with load on the proxy only inside the window: from the new version's start to the end of the drain. */
  const deployInWindow = async (version: string): Promise<{ run: ActionRun; samples: Sample[] }> => {
    let load: ReturnType<typeof startLoad> | undefined;
    let stopped: Promise<Sample[]> | undefined;
    const run = await deploy(version, (line) => {
      // The window opens once the new version started, before its health checks begin.
      if (!load && line.includes('[health] checking ')) load = startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 4, slowWorkers: 0, maxSeconds: 60 });
      if (load && !stopped && line.includes('drained after')) stopped = load.stop();
    });
    return { run, samples: (await stopped) ?? [] };
  };

  it('counts exactly the requests of the window, per slot, with 0 failed', async () => {
    resetServer(server);
    expect((await deploy('v1')).code).toBe(0);
    const { run, samples } = await deployInWindow('v2');
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
    // The times are epoch milliseconds, in order: the window, healthy, switched, the new slot's answers.
    const { fromMs, toMs, healthyMs, switchedMs } = traffic;
    expect(fromMs).toBeGreaterThan(Date.now() - 120_000);
    expect(fromMs).toBeLessThan(healthyMs!);
    expect(healthyMs).toBeLessThan(switchedMs!);
    expect(switchedMs).toBeLessThan(toMs);
    expect(traffic.slots.green.firstMs).toBeGreaterThan(healthyMs!);
    expect(traffic.slots.green.lastMs).toBeLessThanOrEqual(toMs);
    expect(traffic.slots.blue.firstMs).toBeGreaterThanOrEqual(fromMs);
    console.log(
      `receipt (${kind}): ${traffic.requests} requests, blue ${traffic.slots.blue.requests}, green ${traffic.slots.green.requests}, failed ${traffic.failed}; the load generator: ${samples.length}, failed ${failures(samples).length}`,
    );
  }, 90_000);

  if (kind !== 'classic') return; // the cap is the proxy's tmpfs, the same on either server

  it('its log space is capped: filled up during a deploy, nginx serves every request and the receipt says it is partial', async () => {
    // The proxy's receipt tmpfs filled to all but 16 KiB: about 300 log lines fit (a deploy under this
    // load sends 800 or more, however fast it is).
    resetServer(server);
    expect((await deploy('v1')).code).toBe(0);
    const proxy = 'bluegreen-proxy';
    const df = () => remoteDocker(server, ['exec', proxy, 'df', '-Pk', '/run/bluegreen-receipt']).split('\n')[1].trim().split(/\s+/);
    expect(df()[1]).toBe('16384'); // a 16 MiB tmpfs: the bound
    remoteDocker(server, ['exec', proxy, 'rm', '-f', '/run/bluegreen-receipt/receipt.log']); // the last window's, whose room the next window frees
    const free = Number(df()[3]);
    remoteDocker(server, ['exec', proxy, 'dd', 'if=/dev/zero', 'of=/run/bluegreen-receipt/filler', 'bs=1k', `count=${free - 16}`]);
    try {
      const { run, samples } = await deployInWindow('v2');
      expect(run.code, run.stdout).toBe(0);
      expect(samples.length).toBeGreaterThan(600); // twice the lines the space left holds
      expect(failures(samples)).toEqual([]);
      const traffic = JSON.parse(run.outputs.traffic) as Traffic;
      expect(traffic.partial).toBe(true);
      expect(traffic.requests).toBeLessThan(samples.length);
      expect(traffic.requests).toBeGreaterThan(0);
      expect(run.stdout).toContain('reached their 16 MB cap during this deploy: the counts are partial');
      const logBytes = Number(remoteDocker(server, ['exec', proxy, 'stat', '-c', '%s', '/run/bluegreen-receipt/receipt.log']).trim());
      expect(logBytes).toBeLessThanOrEqual(16 * 1024);
      console.log(`receipt log cap: ${samples.length} requests served, ${traffic.requests} logged in ${logBytes} bytes (16 KiB left in the cap)`);
    } finally {
      remoteDocker(server, ['exec', proxy, 'rm', '-f', '/run/bluegreen-receipt/filler']);
    }
  }, 90_000);
});
