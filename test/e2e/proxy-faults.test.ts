// Faults of one app must never reach another: real faults injected on the test servers (a container
// removed by hand, the proxy restarted, Docker's data reset with the state kept, a server rebooted).
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { until } from '../helpers/wait';
import { TestServer, getThroughProxy, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

describe.each(['classic', 'modern'] as const)('the proxy when one app fails (%s server)', (kind) => {
  let server: TestServer;
  const deploy = (app: string, version: string, extra: Record<string, string> = {}): Promise<ActionRun> =>
    runAction(serverInputs(server, { app, hostname: `${app}.test`, image: `${server.appImage}:${version}`, 'health-timeout': '8s', ...extra }));
  const get = (app: string) => getThroughProxy(server, `${app}.test`);

  beforeAll(() => {
    server = testServer(kind);
    resetServer(server);
  });

  it('an app whose container is removed by hand costs only that app: others serve and deploy, the proxy restarts, its next deploy heals', async () => {
    expect((await deploy('alpha', 'v1')).code).toBe(0);
    expect((await deploy('beta', 'v1')).code).toBe(0);

    const load = startLoad({ port: server.proxyPort, hostHeader: 'alpha.test', steadyWorkers: 3, slowWorkers: 1, slowMs: 1000, maxSeconds: 60 });
    let redeploy: ActionRun;
    try {
      remoteDocker(server, ['rm', '-f', 'beta-blue']); // the fault
      // Once the proxy's 1 s DNS cache has let go of its address, beta answers 502 (within the 2 s resolver timeout).
      await until('beta answering 502', 15, async () => /^502 /.test(await get('beta')));
      redeploy = await deploy('alpha', 'v2');
    } finally {
      await load.stop();
    }
    expect(redeploy!.code, redeploy!.stdout).toBe(0);
    expect(load.samples.length).toBeGreaterThan(50);
    expect(failures(load.samples)).toEqual([]);
    expect(await get('alpha')).toBe('200 v2');

    // A restarted proxy starts although beta's config names a container that is gone.
    remoteDocker(server, ['restart', 'bluegreen-proxy']);
    await until('the proxy serving alpha again', 20, async () => (await get('alpha')) === '200 v2');
    expect(remoteDocker(server, ['inspect', '-f', '{{.State.Running}} {{.RestartCount}}', 'bluegreen-proxy']).trim()).toBe('true 0');
    expect(await get('beta')).toMatch(/^502 /);

    const heal = await deploy('beta', 'v2');
    expect(heal.code, heal.stdout).toBe(0);
    expect(heal.stdout).toContain('the proxy config names blue live, but beta-blue is gone: treating nothing as live');
    expect(heal.outputs).toMatchObject({ result: 'switched', 'previous-slot': '' });
    expect(await get('beta')).toBe('200 v2');
    expect(await get('alpha')).toBe('200 v2');
  }, 240_000);

  it("sends the app's own host name in the health check, so host checks (ALLOWED_HOSTS) pass", async () => {
    const strict = await deploy('strict', 'v1', { env: 'ALLOWED_HOSTS=strict.test' });
    expect(strict.code, strict.stdout).toBe(0);
    expect(strict.stdout).toContain('(Host: strict.test)');
    expect(await get('strict')).toBe('200 v1');
  }, 60_000);
});

describe("the server's Docker daemon restarted (classic server, live-restore)", () => {
  let server: TestServer;
  const deploy = (app: string, version: string): Promise<ActionRun> =>
    runAction(serverInputs(server, { app, hostname: `${app}.test`, image: `${server.appImage}:${version}`, 'health-timeout': '8s' }));

  beforeAll(() => {
    server = testServer('classic');
    resetServer(server);
  });

  it('serves again as soon as dockerd is back, with no deploy; only requests while it is down can fail', async () => {
    expect((await deploy('alpha', 'v1')).code).toBe(0);
    // Straight to the proxy container, as a real server's iptables DNAT would send it: the test server
    // publishes ports through docker-proxy (no iptables), which ends with its daemon.
    const address = remoteDocker(server, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'bluegreen-proxy']).trim();
    const load = startLoad({ address, port: 80, hostHeader: 'alpha.test', steadyWorkers: 3, slowWorkers: 1, slowMs: 1000, maxSeconds: 60 });
    let stoppedAt = 0;
    let backAt: number;
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const pid = Number(readFileSync('/run/bluegreen-test/remote-dockerd.pid', 'utf8'));
      stoppedAt = Date.now();
      process.kill(pid, 'SIGTERM'); // the fault: the daemon stops (its containers live on: live-restore)
      await until('the remote dockerd exiting', 30, async () => !isRunning(pid));
      await new Promise((r) => setTimeout(r, 2000)); // a while with no daemon at all
      // Starts it again, as systemd would. Not execFileSync: that blocks this process, and with it the
      // load generator, for as long as up.sh runs (longer than the client's 15 s timeout on a busy
      // fresh machine): the requests in flight then "time out" on their return, although the proxy
      // had answered them (issue 27, item 16: reproduced with a healthy proxy and a 16 s block).
      // Only the classic server's parts: the modern lane may be restarting its hosts meanwhile.
      await new Promise<void>((resolve, reject) => execFile('bash', ['test/server/up.sh', '--classic'], (error) => (error ? reject(error) : resolve())));
      await until('the remote dockerd answering', 30, async () => remoteDockerStatus(server, ['info']).code === 0);
      backAt = Date.now();
      await new Promise((r) => setTimeout(r, 4000));
    } finally {
      await load.stop();
    }
    const failed = failures(load.samples);
    console.log(
      `dockerd restart (down ${((backAt - stoppedAt) / 1000).toFixed(1)} s): ${load.samples.length} requests, ${failed.length} failed ${JSON.stringify([...new Set(failed.map((f) => f.status ?? f.error))])}`,
    );
    // Docker's DNS lives in dockerd: a name looked up while it is down gets a 502 (after at most the
    // 2 s resolver timeout). Nothing fails before the fault, nor once a lookup can reach it again.
    const settled = backAt + 2500;
    expect(load.samples.filter((s) => s.start > settled).length).toBeGreaterThan(50);
    expect(failed.filter((f) => f.start < stoppedAt || f.start > settled)).toEqual([]);
    expect(failed.every((f) => f.status === 502)).toBe(true);
    const next = await deploy('alpha', 'v2');
    expect(next.code, next.stdout).toBe(0);
    expect(await getThroughProxy(server, 'alpha.test')).toBe('200 v2');
  }, 180_000);
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Docker reset or rebooted under the state (modern server)', () => {
  let server: TestServer;
  const deploy = (app: string, version: string): Promise<ActionRun> =>
    runAction(serverInputs(server, { app, hostname: `${app}.test`, image: `${server.appImage}:${version}`, 'health-timeout': '8s' }));
  const get = (app: string) => getThroughProxy(server, `${app}.test`);

  beforeAll(() => {
    server = testServer('modern');
    resetServer(server);
  });

  it('after a reboot of the server, the live slots serve again without a deploy', async () => {
    expect((await deploy('alpha', 'v1')).code).toBe(0);
    expect((await deploy('beta', 'v2')).code).toBe(0);
    const container = execFileSync('bash', ['-c', '. /run/bluegreen-test/env; echo $BG_MODERN_SERVER_CONTAINER'], { encoding: 'utf8' }).trim();
    execFileSync('docker', ['restart', '-t', '20', container]); // the whole host: its dockerd and containerd start anew
    await until('the server serving alpha and beta after its reboot', 90, async () => (await get('alpha')) === '200 v1' && (await get('beta')) === '200 v2');
  }, 180_000);

  it("with Docker's data reset and the state directory kept, the next deploy heals and says what is really live", async () => {
    const ids = remoteDocker(server, ['ps', '-aq']).split('\n').filter(Boolean);
    remoteDocker(server, ['rm', '-f', ...ids]); // every container gone, the proxy too
    remoteDockerStatus(server, ['network', 'rm', 'bluegreen']);
    const heal = await deploy('alpha', 'v2');
    expect(heal.code, heal.stdout).toBe(0);
    expect(heal.stdout).toContain('the proxy config names blue live, but alpha-blue is gone: treating nothing as live');
    expect(await get('alpha')).toBe('200 v2');
    // beta's config still names a container that is gone: only beta fails, the proxy runs.
    expect(await get('beta')).toMatch(/^502 /);
    const rollback = await runAction(serverInputs(server, { app: 'beta', command: 'rollback', image: '' }));
    expect(rollback.code).toBe(1);
    expect(rollback.stdout).toContain('beta has no live slot, so there is nothing to roll back from');
  }, 180_000);
});
