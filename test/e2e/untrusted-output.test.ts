// What is on the server but not ours: a login script that prints workflow commands (shown, never
// obeyed), a container that takes a slot's name (left alone).
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { TestServer, getThroughProxy, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

describe('lines from the server', () => {
  let server: TestServer;
  let bashrc: string;
  const backup = '/tmp/bluegreen-test-bashrc.backup';

  beforeAll(() => {
    server = testServer('classic');
    bashrc = `${server.home}/.bashrc`;
    if (existsSync(bashrc)) copyFileSync(bashrc, backup);
    // bash sources ~/.bashrc when sshd starts it, also for a command: the server's own text.
    const injected = 'echo "::warning::injected by the server"; printf "progress\\r::error::after a carriage return\\n"\n';
    writeFileSync(bashrc, injected + (existsSync(backup) ? readFileSync(backup, 'utf8') : ''));
  });

  afterAll(() => {
    if (existsSync(backup)) {
      copyFileSync(backup, bashrc);
      rmSync(backup);
    } else rmSync(bashrc, { force: true });
  });

  it('run with workflow commands stopped, under a token the server never sees', async () => {
    const run = await runAction(serverInputs(server, { app: 'quiet', command: 'status', image: '' }));
    const lines = run.stdout.split('\n');
    const injected = lines.filter((l) => l.includes('injected by the server') || l.includes('after a carriage return'));
    expect(injected.length).toBeGreaterThanOrEqual(2);
    for (const line of injected) {
      const at = lines.indexOf(line);
      const stop = lines
        .slice(0, at)
        .reverse()
        .find((l) => /^::stop-commands::[0-9a-f]{32}$/.test(l) || /^::[0-9a-f]{32}::$/.test(l));
      expect(stop, `no stop-commands before: ${line}`).toMatch(/^::stop-commands::/); // the last command switch before it stopped them
      const token = stop!.slice('::stop-commands::'.length);
      expect(lines.slice(at).some((l) => l === `::${token}::`)).toBe(true);
    }
  }, 60_000);
});

describe('a container the action did not create', () => {
  it('is never removed to make room for a slot: the deploy fails and says so, the live slot serves on', async () => {
    const server = testServer('classic');
    resetServer(server);
    const inputs = (version: string) => serverInputs(server, { app: 'squat', hostname: 'squat.test', image: `${server.appImage}:${version}` });
    expect((await runAction(inputs('v1'))).code).toBe(0); // squat-blue is live; the next deploy goes to green
    remoteDocker(server, ['run', '-d', '--name', 'squat-green', '--network', 'bluegreen', `${server.appImage}:v1`]);
    const run = await runAction(inputs('v2'));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('a container named squat-green exists that bluegreen-action did not create for squat');
    expect(remoteDockerStatus(server, ['inspect', '-f', '{{.State.Running}}', 'squat-green']).out.trim()).toBe('true');
    expect(await getThroughProxy(server, 'squat.test')).toBe('200 v1');
    remoteDocker(server, ['rm', '-f', 'squat-green']);
  }, 120_000);
});

describe('a proxy that reads another state directory', () => {
  it('is not switched behind its back: the deploy stops before starting anything and says why', async () => {
    const server = testServer('classic');
    resetServer(server);
    expect((await runAction(serverInputs(server, { app: 'first', hostname: 'first.test', image: `${server.appImage}:v1` }))).code).toBe(0);
    const run = await runAction(serverInputs(server, { app: 'second', hostname: 'second.test', image: `${server.appImage}:v1`, 'state-dir': '/tmp/bluegreen-other-state' }));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/the proxy bluegreen-proxy reads its config from \/home\/deploy\/\.bluegreen\/nginx, not from this run's \/tmp\/bluegreen-other-state\/nginx/);
    expect(remoteDockerStatus(server, ['inspect', 'second-blue']).code).not.toBe(0);
    expect(await getThroughProxy(server, 'first.test')).toBe('200 v1');
  }, 120_000);
});
