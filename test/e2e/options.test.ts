import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { TestServer, localDocker, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;

/** Builds a local image FROM one of the test app images with extra Dockerfile lines. */
function derivedImage(tag: string, from: string, lines: string[]): string {
  const context = mkdtempSync(join(tmpdir(), 'bluegreen-derived-'));
  writeFileSync(join(context, 'Dockerfile'), [`FROM ${server.appImage}:${from}`, ...lines, ''].join('\n'));
  localDocker(['build', '-q', '-t', tag, context]);
  return localDocker(['image', 'inspect', '-f', '{{.Id}}', tag]).trim();
}

describe('deploy options', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it("waits for the image's own Docker HEALTHCHECK as well as for the HTTP check", async () => {
    // HTTP answers 200 after 1 s; the HEALTHCHECK fails its first run and passes its second, 3 s later.
    derivedImage('bluegreen-test/healthcheck:1', 'v2', [
      'RUN mkdir -p /tmp',
      'HEALTHCHECK --interval=3s --timeout=2s --retries=3 CMD ["/bin/sh", "-c", "test -f /tmp/checked || { touch /tmp/checked; exit 1; }"]',
    ]);
    const run = await runAction(serverInputs(server, { app: 'hc', image: 'bluegreen-test/healthcheck:1', 'health-interval': '500ms' }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/\[health\] try \d+: 200 \(\d+ms\), docker health: starting/);
    const healthyAfter = Number(run.stdout.match(/is healthy after (\d+)ms/)?.[1]);
    expect(healthyAfter).toBeGreaterThan(5000); // not at the second HTTP 200 (~1.5 s)
    expect(JSON.parse(run.outputs['health-log']).length).toBeGreaterThan(6);
  }, 90_000);

  it("fails at once when the image's HEALTHCHECK says unhealthy, keeping the live version", async () => {
    derivedImage('bluegreen-test/healthcheck:2', 'v1', ['HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD ["/bin/sh", "-c", "echo database unreachable; exit 1"]']);
    const run = await runAction(serverInputs(server, { app: 'hc', image: 'bluegreen-test/healthcheck:2', 'health-timeout': '60s' }));
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/::error::hc on 127\.0\.0\.1: the image's own HEALTHCHECK reports hc-green unhealthy \(BLUE is still live\)/);
    expect(run.summary).toContain('database unreachable');
    expect(Number(run.outputs['duration-seconds'])).toBeLessThan(30);
  }, 90_000);

  it('keeps only keep-images images of the app that no container uses', async () => {
    resetServer(server);
    const v4 = derivedImage('bluegreen-test/app:v4', 'v2', ['RUN echo v4 > /version']);
    const v1 = localDocker(['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:v1`]).trim();
    const v2 = localDocker(['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:v2`]).trim();
    const deploy = (tag: string) => runAction(serverInputs(server, { app: 'prune', image: tag, 'keep-images': '1' }));
    const first = await deploy(`${server.appImage}:v1`); // blue: v1
    expect(first.code, first.stderr + first.stdout.slice(-3000)).toBe(0);
    const second = await deploy(`${server.appImage}:v2`); // green: v2, blue keeps v1 (stopped)
    expect(second.code, second.stderr + second.stdout.slice(-3000)).toBe(0);
    const third = await deploy('bluegreen-test/app:v4'); // blue: v4 replaces the v1 container
    expect(third.code, third.stderr + third.stdout.slice(-3000)).toBe(0);
    expect(third.stdout).toContain(`removed old image ${v1.slice(7, 19)}`);
    expect(remoteDockerStatus(server, ['image', 'inspect', v1]).code).not.toBe(0);
    expect(remoteDockerStatus(server, ['image', 'inspect', v2]).code).toBe(0); // the stopped green still uses it
    expect(remoteDockerStatus(server, ['image', 'inspect', v4]).code).toBe(0);
  }, 120_000);

  it('warns when the host key is not checked', async () => {
    const run = await runAction(serverInputs(server, { app: 'prune', image: 'bluegreen-test/app:v4', 'keep-images': '1', 'known-hosts': '', 'insecure-skip-host-key-check': 'true' }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/::warning::insecure-skip-host-key-check is true: the host key of 127\.0\.0\.1 is not checked/);
  }, 60_000);

  it('passes volumes and extra docker run options to the app container', async () => {
    resetServer(server); // one app without a host name at a time: it is the proxy's default server
    const run = await runAction(serverInputs(server, { app: 'opts', image: `${server.appImage}:v1`, volumes: 'bluegreen-test-data:/data/app', 'docker-args': '--memory=64m\n--label team=payments' }));
    expect(run.code, run.stdout).toBe(0);
    const [mounts, memory, team] = remoteDocker(server, ['inspect', '-f', '{{json .Mounts}}|{{.HostConfig.Memory}}|{{index .Config.Labels "team"}}', 'opts-blue']).trim().split('|');
    expect(JSON.parse(mounts)).toEqual([expect.objectContaining({ Type: 'volume', Name: 'bluegreen-test-data', Destination: '/data/app' })]);
    expect(memory).toBe(String(64 * 1024 * 1024));
    expect(team).toBe('payments');
  }, 60_000);

  it('takes a custom health path and status', async () => {
    const run = await runAction(serverInputs(server, { app: 'opts', image: `${server.appImage}:v2`, 'health-path': '/no-such-page', 'health-status': '404' }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('checking http://opts-green:8080/no-such-page');
    expect(JSON.parse(run.outputs['health-log']).at(-1).status).toBe(404);
  }, 60_000);

  it('starts a stopped proxy again instead of failing or recreating it', async () => {
    const proxyId = remoteDocker(server, ['inspect', '-f', '{{.Id}}', 'bluegreen-proxy']).trim();
    remoteDocker(server, ['stop', 'bluegreen-proxy']);
    const run = await runAction(serverInputs(server, { app: 'opts', image: `${server.appImage}:v1` }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('starting the stopped proxy bluegreen-proxy');
    expect(remoteDocker(server, ['inspect', '-f', '{{.Id}} {{.State.Running}}', 'bluegreen-proxy']).trim()).toBe(`${proxyId} true`);
    expect(await fetch(`http://127.0.0.1:${server.proxyPort}/`).then((r) => r.text())).toBe('v1\n');
  }, 60_000);
});
