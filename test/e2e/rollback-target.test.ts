// A failed deploy never costs the version to roll back to: the idle slot's old container is set
// aside (<app>-<slot>-kept) while the new version is tried, and put back when it fails. What an
// interrupted run leaves aside is tidied by the next run; a foreign container of that name is refused.
import { beforeEach, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { TestServer, getThroughProxy, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';

const server: TestServer = testServer();
const APP = 'keeper';
const HOST = 'keeper.test';
const run = (extra: Record<string, string>): Promise<ActionRun> => runAction(serverInputs(server, { app: APP, hostname: HOST, 'health-timeout': '4s', ...extra }));
const deploy = (version: string) => run({ image: `${server.appImage}:${version}` });
const command = (name: string) => run({ command: name, image: '' });

let versionIds: Array<[string, string]> | undefined; // [version, image ID], read once
/** The test app's version (v1…v3) that an image ID or reference names. */
function versionOf(image: string): string {
  versionIds ??= ['v1', 'v2', 'v3'].map((v) => [v, remoteDocker(server, ['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:${v}`]).trim()]);
  for (const [version, id] of versionIds) {
    if (image === `${server.appImage}:${version}` || id.startsWith(image) || id.slice(7).startsWith(image)) return version;
  }
  return image;
}
/** "name version state" of every container named after the app, sorted. */
const containers = () =>
  remoteDocker(server, ['ps', '-a', '--filter', `name=${APP}-`, '--format', '{{.Names}} {{.Image}} {{.State}}'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '))
    .map(([name, image, state]) => `${name} ${versionOf(image)} ${state}`)
    .sort();
const imageOf = (name: string) => versionOf(remoteDocker(server, ['inspect', '-f', '{{.Image}}', name]).trim());

describe('the version to roll back to survives a failed deploy', () => {
  beforeEach(async () => {
    resetServer(server);
    expect((await deploy('v1')).code).toBe(0);
    expect((await deploy('v2')).code).toBe(0); // GREEN v2 live, BLUE v1 kept for rollback
  }, 60_000);

  it('v1, v2, a v3 that never gets healthy, then rollback: v1 serves again; 0 failed requests throughout', async () => {
    const load = startLoad({ port: server.proxyPort, hostHeader: HOST, steadyWorkers: 3, slowWorkers: 0, slowMs: 0, maxSeconds: 60 });
    let failed: ActionRun, rollback: ActionRun;
    try {
      failed = await deploy('v3');
      expect(containers()).toEqual([`${APP}-blue v1 exited`, `${APP}-green v2 running`]);
      rollback = await command('rollback');
    } finally {
      await load.stop();
    }
    expect(failed.code, failed.stdout).toBe(3);
    expect(failed.stdout).toContain(`setting ${APP}-blue aside as ${APP}-blue-kept until the new version is live`);
    expect(failed.stdout).toContain(`put ${APP}-blue-kept back as ${APP}-blue: it is still the version to roll back to`);
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.outputs['active-slot']).toBe('blue');
    expect(await getThroughProxy(server, HOST)).toBe('200 v1');
    expect(failures(load.samples)).toEqual([]);
    expect(load.samples.length).toBeGreaterThan(50);
  }, 120_000);

  it('a deploy that goes live removes the container it set aside (the previous slot is the rollback target now)', async () => {
    const v3 = await deploy('v1');
    expect(v3.code, v3.stdout).toBe(0);
    expect(v3.stdout).toContain(`removed ${APP}-blue-kept: green is now the version to roll back to`);
    expect(containers()).toEqual([`${APP}-blue v1 running`, `${APP}-green v2 exited`]);
  }, 60_000);

  it('tidies what an interrupted run left: its candidate goes, the container it set aside comes back', async () => {
    // As a run killed during its health check leaves it: BLUE v1 set aside, a v3 candidate in its place.
    remoteDocker(server, ['rename', `${APP}-blue`, `${APP}-blue-kept`]);
    remoteDocker(server, ['create', '--name', `${APP}-blue`, '--label', `bluegreen.app=${APP}`, `${server.appImage}:v3`]);
    const next = await deploy('v3');
    expect(next.code, next.stdout).toBe(3);
    expect(next.stdout).toContain(`removing ${APP}-blue, the candidate of a run that was interrupted; ${APP}-blue-kept stays set aside`);
    expect(containers()).toEqual([`${APP}-blue v1 exited`, `${APP}-green v2 running`]);

    // The same, then a rollback: the set-aside v1 is what it rolls back to, not the interrupted v3.
    remoteDocker(server, ['rename', `${APP}-blue`, `${APP}-blue-kept`]);
    remoteDocker(server, ['create', '--name', `${APP}-blue`, '--label', `bluegreen.app=${APP}`, `${server.appImage}:v3`]);
    const rollback = await command('rollback');
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.stdout).toContain(`removed ${APP}-blue, the candidate of a run that was interrupted`);
    expect(rollback.stdout).toContain(`put ${APP}-blue-kept back as ${APP}-blue`);
    expect(imageOf(`${APP}-blue`)).toBe('v1');
    expect(await getThroughProxy(server, HOST)).toBe('200 v1');
  }, 90_000);

  it('removes a container set aside from the live slot (a run killed after its switch), and remove leaves none', async () => {
    remoteDocker(server, ['create', '--name', `${APP}-green-kept`, '--label', `bluegreen.app=${APP}`, `${server.appImage}:v1`]);
    const next = await deploy('v3'); // fails its health check; the stale one goes all the same
    expect(next.stdout).toContain(`removing ${APP}-green-kept, set aside by a run that was interrupted after its switch`);
    expect(containers()).toEqual([`${APP}-blue v1 exited`, `${APP}-green v2 running`]);

    remoteDocker(server, ['rename', `${APP}-blue`, `${APP}-blue-kept`]);
    const removal = await command('remove');
    expect(removal.code, removal.stdout).toBe(0);
    expect(removal.stdout).toContain(`removed container ${APP}-blue-kept`);
    expect(containers()).toEqual([]);
  }, 90_000);

  it('refuses a container of the set-aside name that it did not create, changing nothing', async () => {
    remoteDocker(server, ['create', '--name', `${APP}-blue-kept`, `${server.appImage}:v1`]); // no label of ours
    const next = await deploy('v3');
    expect(next.code, next.stdout).toBe(1);
    expect(next.stdout).toContain(`a container named ${APP}-blue-kept exists that bluegreen-action did not create for ${APP}`);
    expect(containers()).toEqual([`${APP}-blue v1 exited`, `${APP}-blue-kept v1 created`, `${APP}-green v2 running`]);
    expect(await getThroughProxy(server, HOST)).toBe('200 v2');
  }, 60_000);
});
