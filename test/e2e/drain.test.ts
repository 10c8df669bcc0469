// Draining ends when the requests the proxy sent to the old slot are done: no fixed sleep.
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { failures, openEventStream, openUpgraded, slowUpload, startLoad } from '../helpers/load';
import { SERVER_KINDS, TestServer, getThroughProxy, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;
const deploy = (version: string, extra: Record<string, string> = {}): Promise<ActionRun> =>
  runAction(serverInputs(server, { app: 'drain', hostname: 'drain.test', image: `${server.appImage}:${version}`, 'health-timeout': '8s', ...extra }));
const drainedMs = (run: ActionRun): number => Number(run.stdout.match(/drained after (\d+)ms/)?.[1] ?? NaN);

describe.each(SERVER_KINDS)('draining the old slot (%s server)', (kind) => {
  beforeAll(() => {
    server = testServer(kind);
    resetServer(server);
  });

  it('stops the old slot at once when nothing is in flight, not after drain-seconds', async () => {
    expect((await deploy('v1')).code).toBe(0);
    const run = await deploy('v2', { 'drain-seconds': '20' });
    expect(run.code, run.stdout).toBe(0);
    expect(drainedMs(run)).toBeLessThan(1500);
    expect(run.seconds).toBeLessThan(15);
    expect(await getThroughProxy(server, 'drain.test')).toBe('200 v2');
  }, 90_000);

  it('waits for the longest request in flight (3 s), no longer than it plus 0.5 s, losing none', async () => {
    // Three slow workers a second apart: whenever the switch comes, one of them has 2 s or more to go.
    const load = startLoad({ port: server.proxyPort, hostHeader: 'drain.test', steadyWorkers: 2, slowWorkers: 3, slowMs: 3000, slowStaggerMs: 1000, maxSeconds: 60 });
    let run: ActionRun;
    try {
      await new Promise((r) => setTimeout(r, 2500)); // slow requests are on the old slot
      run = await deploy('v1', { 'drain-seconds': '20' });
    } finally {
      await load.stop();
    }
    expect(run!.code, run!.stdout).toBe(0);
    const drained = drainedMs(run!);
    console.log(`drain with 3 s requests in flight: ${drained} ms; ${load.samples.length} requests, ${failures(load.samples).length} failed`);
    expect(drained).toBeGreaterThan(1500);
    expect(drained).toBeLessThan(3500 + 500);
    expect(failures(load.samples)).toEqual([]);
    expect(load.samples.filter((s) => s.kind === 'slow').every((s) => s.status === 200)).toBe(true);
  }, 120_000);

  it('lets requests longer than drain-seconds finish within stop-timeout', async () => {
    // Two 4 s workers 2 s apart: whenever the switch comes, one of them has about 2 s to go, past the 1 s drain.
    const load = startLoad({ port: server.proxyPort, hostHeader: 'drain.test', steadyWorkers: 1, slowWorkers: 2, slowMs: 4000, slowStaggerMs: 2000, maxSeconds: 60 });
    let run: ActionRun;
    try {
      await new Promise((r) => setTimeout(r, 1500));
      run = await deploy('v2', { 'drain-seconds': '1', 'stop-timeout': '15' });
    } finally {
      await load.stop();
    }
    expect(run!.code, run!.stdout).toBe(0);
    expect(run!.stdout).toContain('drain time (1s) is up');
    expect(load.samples.filter((s) => s.kind === 'slow').length).toBeGreaterThan(0);
    expect(failures(load.samples)).toEqual([]);
  }, 120_000);

  it('lets an upload still arriving at the switch finish on the old slot (200, not 502)', async () => {
    expect((await deploy('v1')).code).toBe(0);
    // 24 MiB at 2 MiB/s: about 12 s, started 2 s before the deploy, so the switch comes mid-body
    // (a deploy takes 5–8 s here, leaving the upload 2–5 s to go).
    const bytes = 24 * 1024 * 1024;
    let uploadDoneAt = 0;
    const upload = slowUpload(server.proxyPort, 'drain.test', bytes, 2 * 1024 * 1024).then((answer) => ((uploadDoneAt = Date.now()), answer));
    await new Promise((r) => setTimeout(r, 2000));
    const run = await deploy('v2', { 'drain-seconds': '20' });
    const runDoneAt = Date.now();
    const answer = await upload;
    expect(run.code, run.stdout).toBe(0);
    console.log(`upload across a switch: ${answer}; drained after ${drainedMs(run)} ms`);
    expect(answer).toBe(`200 received ${bytes}`);
    // The drain saw the upload: it waited for it (the upload ended before the run did) rather than stopping v1 under it.
    expect(uploadDoneAt).toBeGreaterThan(0);
    expect(uploadDoneAt).toBeLessThanOrEqual(runDoneAt);
    expect(drainedMs(run)).toBeGreaterThan(1000);
    expect(await getThroughProxy(server, 'drain.test')).toBe('200 v2');
  }, 120_000);

  it('closes an open WebSocket and event stream at drain-long-lived instead of waiting drain-seconds for them', async () => {
    expect((await deploy('v1')).code).toBe(0);
    const ws = await openUpgraded(server.proxyPort, 'drain.test');
    const events = await openEventStream(server.proxyPort, 'drain.test', '/stream?n=120&ms=500'); // 60 s of events
    const run = await deploy('v2', { 'drain-seconds': '30', 'drain-long-lived': '2' });
    expect(run.code, run.stdout).toBe(0);
    const within5s = (closed: Promise<number>) => Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), 5000))]);
    console.log(`a WebSocket and an event stream across a switch: drained after ${drainedMs(run)} ms, run ${run.seconds.toFixed(1)} s`);
    expect(await within5s(ws.closed)).toBeGreaterThan(0); // closed as the old version stopped
    expect(await within5s(events.closed)).toBeGreaterThan(0);
    expect(drainedMs(run)).toBeGreaterThan(1900);
    expect(drainedMs(run)).toBeLessThan(4000); // not the 30 s of drain-seconds
    expect(run.stdout).toContain('2 long-lived connection(s) (WebSocket, event stream) closed after drain-long-lived (2s)');
    expect(run.summary).toContain('closed after drain-long-lived');
  }, 120_000);

  it('with an upload and a WebSocket open across a switch: the upload gets 200, the WebSocket is closed, no request fails', async () => {
    expect((await deploy('v1')).code).toBe(0);
    const ws = await openUpgraded(server.proxyPort, 'drain.test');
    const load = startLoad({ port: server.proxyPort, hostHeader: 'drain.test', steadyWorkers: 2, slowWorkers: 0, maxSeconds: 60 });
    const bytes = 20 * 1024 * 1024;
    let run: ActionRun;
    let answer: string;
    try {
      const upload = slowUpload(server.proxyPort, 'drain.test', bytes, 2 * 1024 * 1024);
      await new Promise((r) => setTimeout(r, 2000));
      run = await deploy('v2', { 'drain-seconds': '30', 'drain-long-lived': '2' });
      answer = await upload;
    } finally {
      await load.stop();
    }
    expect(run!.code, run!.stdout).toBe(0);
    console.log(`upload + WebSocket across a switch: ${answer!}; drained after ${drainedMs(run!)} ms; ${load.samples.length} requests, ${failures(load.samples).length} failed`);
    expect(answer!).toBe(`200 received ${bytes}`);
    expect(await Promise.race([ws.closed, new Promise<number>((r) => setTimeout(() => r(0), 5000))])).toBeGreaterThan(0);
    expect(drainedMs(run!)).toBeLessThan(12_000); // the upload's 10 s, not drain-seconds
    expect(failures(load.samples)).toEqual([]);
  }, 120_000);
});
