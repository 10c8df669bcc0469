// health-port and health-command (issue 23), on the classic and the Docker 28 server, under load
// through the proxy: each decides a deploy both ways, and a rollback checks with the recorded one.
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, getThroughProxy, resetServer, serverInputs, testServer } from '../helpers/server';
import { until } from '../helpers/wait';

describe.each(SERVER_KINDS)('health-port and health-command (%s server)', (kind) => {
  const server = testServer(kind);
  const APP = 'hv';
  const HOST = 'hv.test';
  const deploy = (version: string, extra: Record<string, string>): Promise<ActionRun> =>
    runAction(serverInputs(server, { app: APP, hostname: HOST, 'health-timeout': '6s', image: `${server.appImage}:${version}`, ...extra }));
  const tries = (run: ActionRun) => JSON.parse(run.outputs['health-log']) as Array<{ status: number | null; error: string | null; exitCode?: number }>;

  it('each decides a deploy both ways; a rollback checks with the recorded one; no request fails', async () => {
    resetServer(server);
    const first = await deploy('v1', { env: 'HEALTH_PORT=9090', 'health-port': '9090' });
    expect(first.code, first.stdout.slice(-2500)).toBe(0);
    expect(first.stdout).toContain('checking http://hv-blue:9090/ (Host: hv.test)');
    expect(tries(first).at(-1)?.status).toBe(200);
    // The management port answers at once, the app's own port only once the app is ready (READY_AFTER):
    // health-port trusted it, so the load waits for the app itself.
    await until('v1 serves through the proxy', 10, async () => (await getThroughProxy(server, HOST)) === '200 v1', 50);

    const load = startLoad({ port: server.proxyPort, hostHeader: HOST, steadyWorkers: 2, maxSeconds: 180 });
    try {
      // The served port answers 200; the management port 503: the health-port decides.
      const sick = await deploy('v2', { env: 'HEALTH_PORT=9090\nHEALTH_PORT_STATUS=503', 'health-port': '9090' });
      expect(sick.code, sick.stdout.slice(-2500)).toBe(3);
      expect(tries(sick).every((t) => t.status === 503)).toBe(true);
      expect(await getThroughProxy(server, HOST)).toBe('200 v1');

      // A command that asks the app itself (busybox wget fails on its 503 while it starts): the version
      // gets traffic only once it serves, however short health-interval is.
      const byCommand = await deploy('v2', { 'health-command': `sh -c "wget -q -O /dev/null http://127.0.0.1:8080/ && echo \\"it's up\\""` });
      expect(byCommand.code, byCommand.stdout.slice(-2500)).toBe(0);
      expect(byCommand.stdout).toContain('checking the health-command (sh -c wget -q -O /dev/null http://127.0.0.1:8080/ && echo "it\'s up") in hv-green');
      expect(tries(byCommand).at(-1)).toMatchObject({ status: null, error: null, exitCode: 0 });
      expect(await getThroughProxy(server, HOST)).toBe('200 v2');

      const failing = await deploy('v1', { 'health-command': `sh -c 'echo schema missing >&2; exit 3'` });
      expect(failing.code, failing.stdout.slice(-2500)).toBe(3);
      expect(tries(failing).at(-1)).toMatchObject({ status: null, exitCode: 3, error: 'schema missing' });
      expect(failing.summary).toContain('| exit 3: schema missing |');
      expect(await getThroughProxy(server, HOST)).toBe('200 v2');

      // The rollback uses the recorded health-command, also for its check after the switch.
      const back = await runAction(serverInputs(server, { app: APP, command: 'rollback', image: '' }));
      expect(back.code, back.stdout.slice(-2500)).toBe(0);
      expect(back.stdout).toContain('checking the health-command (sh -c wget -q -O /dev/null http://127.0.0.1:8080/');
      expect(await getThroughProxy(server, HOST)).toBe('200 v1');
    } finally {
      await load.stop();
    }
    expect(failures(load.samples)).toEqual([]);
    expect(load.samples.length).toBeGreaterThan(50);
  }, 300_000);
});
