// A full disk where the state lives, filled for real (a small tmpfs) while a deploy is under way:
// the switch is refused whole, the live version keeps serving every request, its proxy config stays
// as it was, the run says why; once there is room again the next deploy just works.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { TestServer, remoteDockerStatus, serverInputs, testServer } from '../helpers/server';

const STATE_DIR = '/srv/bluegreen-test-diskfull';
const FILLER = `${STATE_DIR}/filler`;
const PROXY_PORT = 18095; // a proxy of its own, reading this state-dir
const CONTAINERS = ['diskfull-blue', 'diskfull-green', 'diskfull-blue-kept', 'diskfull-green-kept', 'diskfull-proxy'];

const mounted = () => spawnSync('mountpoint', ['-q', STATE_DIR]).status === 0;

function unmount(server: TestServer): void {
  remoteDockerStatus(server, ['rm', '-f', ...CONTAINERS]);
  if (mounted()) execFileSync('umount', [STATE_DIR]);
  rmSync(STATE_DIR, { recursive: true, force: true });
}

/**
 * tmpfs allocates whole pages: a line appended to a file whose last page has room needs no space.
 * This pads the history (with a line of valid JSON) to a page boundary, so that the failed run's
 * history line meets the full disk too.
 */
function padToPage(file: string): void {
  const page = 4096;
  let length = page - (statSync(file).size % page);
  if (length < 100) length += page;
  const head = '{"time":"2026-01-01T00:00:00Z","command":"pad","outcome":"unchanged","pad":"';
  appendFileSync(file, `${head}${'x'.repeat(length - head.length - 3)}"}\n`);
}

/** Fills the tmpfs to the last byte (tmpfs keeps nothing back for root); says what is left. */
function fill(): string {
  spawnSync('dd', ['if=/dev/zero', `of=${FILLER}`, 'bs=4k'], { stdio: 'ignore' });
  return execFileSync('df', ['--output=avail', STATE_DIR], { encoding: 'utf8' }).split('\n')[1].trim();
}

describe('a full disk under the state directory (classic server)', () => {
  let server: TestServer;
  const deploy = (version: string, options: Parameters<typeof runAction>[1] = {}): Promise<ActionRun> =>
    runAction(
      serverInputs(server, {
        app: 'diskfull',
        hostname: 'diskfull.test',
        image: `${server.appImage}:${version}`,
        'state-dir': STATE_DIR,
        'proxy-name': 'diskfull-proxy',
        'proxy-ports': `127.0.0.1:${PROXY_PORT}:80`,
        'health-successes': '3',
      }),
      options,
    );

  beforeAll(() => {
    server = testServer('classic');
    unmount(server);
    mkdirSync(STATE_DIR, { recursive: true });
    const uid = execFileSync('id', ['-u', server.user], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', server.user], { encoding: 'utf8' }).trim();
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=2m,mode=755,uid=${uid},gid=${gid}`, 'tmpfs', STATE_DIR]);
  });

  afterAll(() => unmount(server));

  it('filled while the new version is health-checked: no switch, v1 serves every request, its config intact; after freeing space v2 deploys', async () => {
    expect((await deploy('v1')).code).toBe(0);
    const confFile = `${STATE_DIR}/nginx/diskfull.conf`;
    const configBefore = readFileSync(confFile, 'utf8');

    const load = startLoad({ port: PROXY_PORT, hostHeader: 'diskfull.test', steadyWorkers: 2, slowWorkers: 0, maxSeconds: 60 });
    let run: ActionRun;
    let left = '';
    try {
      // The disk fills after the candidate started (its env file and lock written), before the switch.
      run = await deploy('v2', {
        onLine: (line) => {
          if (!line.includes('[health] checking')) return;
          padToPage(`${STATE_DIR}/apps/diskfull/history.jsonl`);
          left = fill();
        },
      });
    } finally {
      await load.stop();
    }
    console.log(`full disk during a deploy: exit ${run.code}; ${load.samples.length} requests, ${failures(load.samples).length} failed`);
    expect(left).toBe('0');
    expect(run.stdout).toContain('warning: this run could not be added to /srv/bluegreen-test-diskfull/apps/diskfull/history.jsonl (is the disk full?)');
    expect(run.code, run.stdout).toBe(1);
    expect(run.stdout).toMatch(/::error::diskfull on 127\.0\.0\.1: cannot switch to green: cannot (copy|write) \S+ \(is the disk full\?\); nothing was changed \(BLUE is still live\)/);
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['active-slot']).toBe('blue');
    expect(readFileSync(confFile, 'utf8')).toBe(configBefore);
    expect(remoteDockerStatus(server, ['inspect', 'diskfull-green']).code).not.toBe(0); // the candidate is gone
    expect(load.samples.length).toBeGreaterThan(50);
    expect(failures(load.samples)).toEqual([]);
    expect(load.samples.every((s) => s.body === 'v1')).toBe(true);

    rmSync(FILLER);
    const again = await deploy('v2');
    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs['active-slot']).toBe('green');
  }, 180_000);

  it('already full when a deploy starts: it fails, says why, and green serves on untouched', async () => {
    padToPage(`${STATE_DIR}/apps/diskfull/history.jsonl`);
    expect(fill()).toBe('0');
    try {
      const run = await deploy('v1');
      expect(run.code, run.stdout).toBe(1);
      expect(run.stdout).toMatch(/::error::diskfull on 127\.0\.0\.1: .*(is the disk full\?|No space left on device).* \(GREEN is still live\)/);
      // The candidate is gone; BLUE holds v1 again (stopped), still the version to roll back to.
      expect(remoteDockerStatus(server, ['inspect', '-f', '{{.State.Running}} {{index .Config.Labels "bluegreen.image"}}', 'diskfull-blue']).out.trim()).toBe(`false ${server.appImage}:v1`);
      expect(remoteDockerStatus(server, ['inspect', 'diskfull-blue-kept']).code).not.toBe(0);
      expect(remoteDockerStatus(server, ['inspect', '-f', '{{.State.Running}}', 'diskfull-green']).out.trim()).toBe('true');
    } finally {
      rmSync(FILLER);
    }
    const load = startLoad({ port: PROXY_PORT, hostHeader: 'diskfull.test', steadyWorkers: 1, slowWorkers: 0, maxRequests: 20, maxSeconds: 10 });
    await load.stop();
    expect(load.samples.length).toBeGreaterThan(0);
    expect(load.samples.every((s) => s.status === 200 && s.body === 'v2')).toBe(true);
  }, 120_000);
});
