// The release phase, one-off commands and rollback to any version kept (issue 22), on the classic
// and the Docker 28 server, under load through the proxy: a release command runs once before the
// new version gets traffic, in a fresh container of the new image with the app's env and volumes; a
// failing or timed-out release leaves the live version serving; command run returns its output;
// rollback-to brings back a version from history.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ActionRun, type RunOptions, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, type TestServer, containersOf, getThroughProxy, localDocker, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

async function underLoad<T>(server: TestServer, host: string, work: () => Promise<T>): Promise<{ result: T; samples: ReturnType<typeof startLoad>['samples'] }> {
  const load = startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 2, slowWorkers: 1, slowMs: 1000, maxSeconds: 240 });
  try {
    return { result: await work(), samples: load.samples };
  } finally {
    await load.stop();
  }
}

const sha = (digit: string) => digit.repeat(40);

describe.each(SERVER_KINDS)('release phase, command run and rollback-to (%s server)', (kind) => {
  const server = testServer(kind);
  const APP = 'rel';
  const HOST = 'rel.test';
  const base = { app: APP, hostname: HOST, 'health-timeout': '6s', volumes: 'rel-state:/data/state' };
  const deploy = (version: string, extra: Record<string, string> = {}, options: RunOptions = {}): Promise<ActionRun> =>
    runAction(serverInputs(server, { ...base, image: `${server.appImage}:${version}`, ...extra }), options);
  const command = (name: string, extra: Record<string, string> = {}): Promise<ActionRun> => runAction(serverInputs(server, { app: APP, command: name, image: '', ...extra }));

  it('a release writes into the app volume before the switch; failing and timed-out releases leave v1 serving; an unchanged deploy skips it', async () => {
    resetServer(server);
    remoteDocker(server, ['volume', 'rm', '-f', 'rel-state']);
    const first = await deploy('v1', { env: 'NEEDS_FILE=/data/state/schema', 'release-command': `sh -c 'echo schema-v1 > /data/state/schema'` });
    expect(first.code, first.stdout).toBe(0);
    expect(await getThroughProxy(server, HOST, '/needs')).toBe('200 schema-v1');

    const { result: runs, samples } = await underLoad(server, HOST, async () => {
      const failing = await deploy('v2', { env: 'NEEDS_FILE=/data/state/schema', 'release-command': `sh -c 'echo "migration failed: relation missing" >&2; exit 7'` });
      const leftAfterFailing = containersOf(server, APP);
      const slow = await deploy('v2', { env: 'NEEDS_FILE=/data/state/schema', 'release-command': 'sleep 60', 'release-timeout': '2s' });
      const leftAfterSlow = containersOf(server, APP);
      const good = await deploy('v2', { env: 'NEEDS_FILE=/data/state/schema', 'release-command': `sh -c 'echo schema-v2 > /data/state/schema'` });
      const again = await deploy('v2', { env: 'NEEDS_FILE=/data/state/schema', 'release-command': `sh -c 'echo schema-v2 > /data/state/schema'` });
      return { failing, leftAfterFailing, slow, leftAfterSlow, good, again };
    });
    const { failing, slow, good, again } = runs;
    if (process.env.BG_DEBUG) console.log(good.stdout, failing.summary, slow.stdout);

    expect(failing.code, failing.stdout).toBe(8);
    expect(failing.summary).toContain('the release command failed; nothing switched, BLUE still live (untouched)');
    expect(failing.summary).toContain('migration failed: relation missing');
    expect(failing.summary).toContain('It exited with 7');
    expect(JSON.parse(failing.outputs.release)).toMatchObject({ ran: true, exitCode: 7, timedOut: false });
    expect(failing.outputs['active-slot']).toBe('blue');
    expect(runs.leftAfterFailing).toEqual([`${APP}-blue running`]);

    expect(slow.code, slow.stdout).toBe(8);
    expect(slow.stdout).toContain('the release command ran past 2s: stopping it');
    expect(slow.summary).toContain('ran past release-timeout');
    expect(slow.seconds).toBeLessThan(40);
    expect(runs.leftAfterSlow).toEqual([`${APP}-blue running`]);

    expect(good.code, good.stdout).toBe(0);
    const lines = good.stdout.split('\n');
    const released = lines.findIndex((line) => line.includes('the release command succeeded'));
    const started = lines.findIndex((line) => line.includes(`starting ${APP}-green from`));
    expect(released).toBeGreaterThan(-1);
    expect(started).toBeGreaterThan(released);
    expect(good.stdout).toContain('the live version (blue) still answers healthy after the release');
    // The new version needs what the release wrote, and reads it.
    expect(await getThroughProxy(server, HOST, '/needs')).toBe('200 schema-v2');
    expect(await getThroughProxy(server, HOST)).toBe('200 v2');

    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs.result).toBe('unchanged');
    expect(again.summary).toContain('Skipped: the deploy is unchanged (same image and settings)');
    expect(JSON.parse(again.outputs.release)).toMatchObject({ ran: false });

    console.log(`${kind}: failing release, timed-out release, release + switch, unchanged deploy under load: ${samples.length} requests, ${failures(samples).length} failed`);
    expect(samples.length).toBeGreaterThan(50);
    expect(failures(samples)).toEqual([]);
    expect(containersOf(server, APP)).toEqual([`${APP}-blue exited`, `${APP}-green running`]);
  }, 300_000);

  it('a release that breaks the live version is reported, the deploy goes on, and rollback across it needs force', async () => {
    // GREEN v2 is live and needs /data/state/schema; the new version's release takes it away.
    const breaking = await deploy('v1', { env: 'NEEDS_FILE=/data/state/schema-new', 'release-command': `sh -c 'rm /data/state/schema; echo new > /data/state/schema-new'` });
    expect(breaking.code, breaking.stdout).toBe(0);
    expect(breaking.stdout).toContain('warning: the release made the live version unhealthy (green answers 503)');
    expect(breaking.summary).toContain('The release made the version live before it unhealthy');
    expect(JSON.parse(breaking.outputs.release)).toMatchObject({ ran: true, exitCode: 0, brokeLive: true });
    expect(await getThroughProxy(server, HOST)).toBe('200 v1');
    const history = (await command('status')).outputs.history;
    expect(JSON.parse(history).some((h: { command: string; brokeLive?: boolean }) => h.command === 'release' && h.brokeLive === true)).toBe(true);

    const refused = await command('rollback');
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.summary).toContain('Give force: true to roll back anyway; nothing was changed');
    expect(await getThroughProxy(server, HOST)).toBe('200 v1');
    const forced = await command('rollback', { force: 'true' });
    expect(forced.stdout).toContain('across a release that made the version before it unhealthy (force: true)');
  }, 180_000);

  it('command run: its output comes back, the step fails with its exit code, words reach the container as given, nothing served changes', async () => {
    const marker = `/tmp/bluegreen-pwned-${process.pid}`;
    const hostile = `printf '[%s]\\n' "it's" '$(touch ${marker})' 'two\nlines' "\`touch ${marker}\`;" "a\\"b"`;
    const { result, samples } = await underLoad(server, HOST, async () => {
      const before = await getThroughProxy(server, HOST);
      const ok = await command('run', { 'run-command': hostile });
      const bad = await command('run', { 'run-command': `sh -c 'echo to-stdout; echo to-stderr >&2; exit 3'` });
      const env = await command('run', { 'run-command': `sh -c 'echo "$NEEDS_FILE"'` });
      return { before, ok, bad, env, after: await getThroughProxy(server, HOST) };
    });
    expect(result.ok.code, result.ok.stdout).toBe(0);
    expect(result.ok.outputs['run-output']).toBe(`[it's]\n[$(touch ${marker})]\n[two\nlines]\n[\`touch ${marker}\`;]\n[a"b]`);
    expect(result.ok.summary).toContain('run-command exited with 0');
    expect(existsSync(marker)).toBe(false);
    if (server.container) expect(() => localDocker(['exec', server.container as string, 'test', '-e', marker])).toThrow();

    expect(result.bad.code, result.bad.stdout).toBe(3);
    expect(result.bad.outputs['run-output']).toContain('to-stdout');
    expect(result.bad.outputs['run-output']).toContain('to-stderr');
    expect(result.bad.summary).toContain('run-command exited with 3');
    // The app's env reaches it, recorded by the last deploy.
    expect(result.env.outputs['run-output']).toBe('/data/state/schema-new');

    expect(result.after).toBe(result.before);
    expect(containersOf(server, APP).filter((name) => name.includes('-run-'))).toEqual([]);
    expect(failures(samples)).toEqual([]);
  }, 180_000);

  it('rollback-to the version two before the live one serves it with 0 failed requests; an unknown version is refused with the list', async () => {
    const app = 'rbto';
    const host = 'rbto.test';
    const run = (extra: Record<string, string>, options: RunOptions = {}) => runAction(serverInputs(server, { app, hostname: host, 'health-timeout': '6s', ...extra }), options);
    // v2b: v2's layers under another config (another image ID), as a rebuilt release would be.
    execFileSync('docker', ['build', '-q', '-t', `${server.appImage}:v2b`, '-'], { input: `FROM ${server.appImage}:v2\nLABEL rebuilt=1\n`, stdio: ['pipe', 'ignore', 'inherit'] });
    for (const [version, digit] of [
      ['v2', 'a'],
      ['v1', 'b'],
      ['v2b', 'c'],
    ]) {
      const done = await run({ image: `${server.appImage}:${version}` }, { env: { GITHUB_SHA: sha(digit) } });
      expect(done.code, done.stdout).toBe(0);
    }
    const v2Id = remoteDocker(server, ['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:v2`]).trim();

    const status = await run({ command: 'status', image: '' });
    const versions = JSON.parse(status.outputs.versions) as Array<{ image: string; gitSha: string; live: boolean }>;
    expect(versions.map((v) => [v.image, v.gitSha, v.live])).toEqual([
      [`${server.appImage}:v2b`, sha('c'), true],
      [`${server.appImage}:v1`, sha('b'), false],
      [`${server.appImage}:v2`, sha('a'), false],
    ]);
    expect(status.summary).toContain('### Versions on the server (rollback-to)');

    const unknown = await run({ command: 'rollback', image: '', 'rollback-to': 'no-such-version' });
    expect(unknown.code, unknown.stdout).toBe(1);
    expect(unknown.summary).toContain("no version of rbto on this server is named 'no-such-version'");
    expect(unknown.summary).toContain(`${server.appImage}:v1, commit bbbbbbbbbbbb`);
    expect(await getThroughProxy(server, host)).toBe('200 v2');

    const { result: back, samples } = await underLoad(server, host, () => run({ command: 'rollback', image: '', 'rollback-to': 'aaaaaaa' }));
    expect(back.code, back.stdout).toBe(0);
    expect(back.stdout).toContain(`rollback-to aaaaaaa: `);
    expect(back.outputs.result).toBe('switched');
    expect(back.outputs['active-slot']).toBe('green'); // v2b is live in BLUE; v1, the previous version, was in GREEN
    expect(remoteDocker(server, ['inspect', '-f', '{{.Image}}', 'rbto-green']).trim()).toBe(v2Id);
    expect(await getThroughProxy(server, host)).toBe('200 v2');
    console.log(`${kind}: rollback-to two versions back under load: ${samples.length} requests, ${failures(samples).length} failed`);
    expect(samples.length).toBeGreaterThan(20);
    expect(failures(samples)).toEqual([]);

    // By image reference, and by the first 12 hex digits of an image ID.
    const byRef = await run({ command: 'rollback', image: '', 'rollback-to': `${server.appImage}:v1` });
    expect(byRef.code, byRef.stdout).toBe(0);
    expect(await getThroughProxy(server, host)).toBe('200 v1');
    const byId = await run({ command: 'rollback', image: '', 'rollback-to': v2Id.replace('sha256:', '').slice(0, 12) });
    expect(byId.code, byId.stdout).toBe(0);
    expect(remoteDocker(server, ['inspect', '-f', '{{.Image}}', byId.outputs['active-slot'] === 'blue' ? 'rbto-blue' : 'rbto-green']).trim()).toBe(v2Id);
    resetServer(server);
  }, 300_000);

  it('command run in a given image sends it and runs there; with run-lock: false it runs while a deploy holds the lock', async () => {
    const app = 'runlock';
    const deployOf = (version: string, extra: Record<string, string> = {}) =>
      runAction(serverInputs(server, { app, hostname: 'runlock.test', 'health-timeout': '20s', image: `${server.appImage}:${version}`, ...extra }));
    expect((await deployOf('v1')).code).toBe(0);
    // v3 is not on the server (an earlier test may have left it): the run sends it and runs in it, and nothing served changes.
    remoteDockerStatus(server, ['image', 'rm', '-f', `${server.appImage}:v3`]);
    const inV3 = await runAction(serverInputs(server, { app, command: 'run', image: `${server.appImage}:v3`, 'run-command': 'cat /version' }));
    expect(inV3.code, inV3.stdout).toBe(0);
    expect(inV3.outputs['run-output']).toBe('v3');
    expect(Number(inV3.outputs['bytes-sent'])).toBeGreaterThan(0);
    expect(await getThroughProxy(server, 'runlock.test')).toBe('200 v1');

    // A deploy whose new version takes 8 s to get healthy holds the app's lock meanwhile.
    let deployEnded = 0;
    const slow = deployOf('v2', { env: 'READY_AFTER=8' }).then((r) => ((deployEnded = Date.now()), r));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const beside = await command('run', { app, 'run-command': 'cat /version', 'run-lock': 'false' });
    const besideEnded = Date.now();
    const waiting = command('run', { app, 'run-command': 'cat /version' }).then((r) => ({ r, ended: Date.now() }));
    const deployed = await slow;
    const locked = await waiting;
    expect(deployed.code, deployed.stdout).toBe(0);
    expect(beside.code, beside.stdout).toBe(0);
    expect(beside.outputs['run-output']).toBe('v1'); // the live version's image, while v2 was being checked
    expect(besideEnded).toBeLessThan(deployEnded);
    expect(locked.r.code, locked.r.stdout).toBe(0);
    expect(locked.r.outputs['run-output']).toBe('v2'); // it waited for the deploy's lock
    expect(locked.ended).toBeGreaterThan(deployEnded);
    resetServer(server);
  }, 180_000);
});
