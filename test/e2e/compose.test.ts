// engine: compose (issue 24), on both servers (Docker 20.10, classic store; Docker 28, containerd
// store), each with Debian sid's Compose v2, and real
// accessories (PostgreSQL 15 and Redis 7 from Debian packages, sent from the runner like the app):
// web + Postgres (named volume) + Redis + a worker of the app's image. Under load through the proxy:
// v1 → v2 with 0 failed requests, a release command that writes to Postgres before each switch, the
// database container and its data unchanged across every deploy, the worker on the new image after
// the switch and on the old one after a rollback, a v3 that never gets healthy changing nothing,
// remove keeping the volume (and remove-volumes removing it). With the Compose plugin taken away, a
// compose deploy fails before anything changes, saying how to install it.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, type TestServer, containersOf, remoteDocker, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

const APP = 'cmp';
const HOST = 'cmp.test';
const IMAGE = 'bluegreen-test/compose-app';
const DATABASE_URL = 'postgres://app:app@db/app';

const COMPOSE = `services:
  web:
    image: ${IMAGE}
    environment:
      DATABASE_URL: ${DATABASE_URL}
    env_file: web.env
    depends_on:
      db: { condition: service_healthy }
  jobs:
    image: ${IMAGE}
    command: ["sh", "-c", "echo jobs $$(cat /version) up; trap 'exit 0' TERM; while :; do sleep 0.2; done"]
  db:
    image: bluegreen-test/postgres:15
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: app, POSTGRES_DB: app }
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "app", "-h", "127.0.0.1"]
      interval: 1s
      retries: 60
  cache:
    image: bluegreen-test/redis:7
volumes:
  pgdata: {}
`;
const WORKSPACE = { 'compose.yaml': COMPOSE, 'web.env': 'FROM_ENV_FILE=yes\n' };
// A migration: the table, and one row naming the version that ran it (psql over the compose network).
const RELEASE =
  `sh -c 'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "CREATE TABLE IF NOT EXISTS releases (version text)" && ` +
  `printf "INSERT INTO releases VALUES (\\047%s\\047);" "$(cat /version)" | psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q && echo migrated'`;

function compose(server: TestServer, extra: Record<string, string> = {}): Record<string, string> {
  return serverInputs(server, { app: APP, engine: 'compose', 'compose-service': 'web', hostname: HOST, 'health-timeout': '30s', 'worker-grace': '1s', ...extra });
}

const deploy = (server: TestServer, version: string, extra: Record<string, string> = {}, files = WORKSPACE): Promise<ActionRun> =>
  runAction(compose(server, { image: `${IMAGE}:${version}`, 'release-command': RELEASE, env: 'GREETING=hello', ...extra }), { files, timeoutMs: 400_000 });
const serverCompose = (server: TestServer): string => readFileSync(`${server.home}/.bluegreen/apps/${APP}/compose/compose.yaml`, 'utf8');

const psql = (server: TestServer, sql: string): string => remoteDocker(server, ['exec', `${APP}-db-1`, 'psql', '-U', 'app', '-d', 'app', '-tAc', sql]).trim();
const idOf = (server: TestServer, container: string): string => remoteDocker(server, ['inspect', '-f', '{{.Id}}', container]).trim();
const versionIn = (server: TestServer, container: string): string => remoteDocker(server, ['exec', container, 'cat', '/version']).trim();

describe.each(SERVER_KINDS)('engine: compose (%s server, Compose v2)', (kind) => {
  const server = testServer(kind);

  it('web + Postgres + Redis + worker: zero-downtime deploys, a release that migrates, accessories kept, rollback, remove keeps the volume', { timeout: 900_000 }, async () => {
    resetServer(server);
    remoteDockerStatus(server, ['volume', 'rm', '-f', `${APP}_pgdata`]);
    remoteDockerStatus(server, ['network', 'rm', `${APP}_default`]);

    const first = await deploy(server, 'v1');
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout).toMatch(/bluegreen-test\/postgres:15/);
    expect(first.summary).toMatch(/Sent bluegreen-test\/postgres:15/);
    expect(first.stdout).toContain('migrated');
    expect(containersOf(server, APP)).toEqual([`${APP}-blue running`, `${APP}-blue-jobs-1 running`]);
    const db = idOf(server, `${APP}-db-1`);
    const cache = idOf(server, `${APP}-cache-1`);
    expect(psql(server, "SELECT string_agg(version, ',') FROM releases")).toBe('v1');
    // The web container: the service's own environment and env_file, the action's env, both networks.
    const env = remoteDocker(server, ['inspect', '-f', '{{json .Config.Env}}', `${APP}-blue`]);
    expect(JSON.parse(env)).toEqual(expect.arrayContaining([`DATABASE_URL=${DATABASE_URL}`, 'FROM_ENV_FILE=yes', 'GREETING=hello']));
    expect(remoteDocker(server, ['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}{{.HostConfig.RestartPolicy.Name}}', `${APP}-blue`]).trim()).toBe(
      `bluegreen ${APP}_default unless-stopped`,
    );

    const load = startLoad({ port: server.proxyPort, hostHeader: HOST, steadyWorkers: 2, maxSeconds: 400 });
    let second: ActionRun, third: ActionRun, back: ActionRun;
    let afterSecond: string[], afterThird: string[], greenJobs: string, blueJobsBack: string;
    try {
      second = await deploy(server, 'v2');
      afterSecond = containersOf(server, APP);
      greenJobs = versionIn(server, `${APP}-green-jobs-1`);
      // v3 comes with a changed compose file: the server keeps v2's, which is live.
      third = await deploy(server, 'v3', { 'health-timeout': '4s' }, { ...WORKSPACE, 'compose.yaml': COMPOSE.replace('env_file: web.env', 'env_file: web.env\n    labels: [v3-only]') });
      afterThird = containersOf(server, APP);
      back = await runAction(compose(server, { command: 'rollback', image: '' }), { timeoutMs: 300_000 });
      blueJobsBack = versionIn(server, `${APP}-blue-jobs-1`);
    } finally {
      await load.stop();
    }
    expect(second.code, second.stdout).toBe(0);
    // Unchanged accessories keep running: compose says so, and their containers are the same.
    expect(second.stdout).toMatch(/Container cmp-db-1 +Running/);
    expect(second.summary).toMatch(/Sent bluegreen-test\/postgres:15\*\* \| already on server/);
    expect(afterSecond).toEqual([`${APP}-blue exited`, `${APP}-blue-jobs-1 exited`, `${APP}-green running`, `${APP}-green-jobs-1 running`]);
    expect(greenJobs).toBe('v2');
    expect(second.summary).toContain('### Compose services');
    expect(second.summary).toMatch(/\| db \| cmp-db-1 \| running \| bluegreen-test\/postgres:15 \|/);

    // v3 never becomes healthy: its release ran (it is the deploy's migration), nothing switched.
    expect(third.code, third.stdout).toBe(3);
    expect(afterThird).toEqual(afterSecond);
    expect(third.stdout).toContain('put back the compose files of the deploy that is live');
    expect(serverCompose(server)).toBe(COMPOSE);
    expect(third.outputs['active-slot']).toBe('green');

    expect(back.code, back.stdout).toBe(0);
    expect(containersOf(server, APP)).toEqual([`${APP}-blue running`, `${APP}-blue-jobs-1 running`, `${APP}-green exited`, `${APP}-green-jobs-1 exited`]);
    expect(blueJobsBack).toBe('v1');
    expect(idOf(server, `${APP}-db-1`)).toBe(db);
    expect(idOf(server, `${APP}-cache-1`)).toBe(cache);
    expect(psql(server, "SELECT string_agg(version, ',' ORDER BY version) FROM releases")).toBe('v1,v2,v3');

    const samples = load.samples;
    expect(samples.length).toBeGreaterThan(100);
    expect(failures(samples)).toEqual([]);
    console.log(`compose under load (v2 deploy, v3 refused, rollback): ${samples.length} requests, ${failures(samples).length} failed`);

    // An image neither the runner nor the server has, and no registry serves: named, nothing changes.
    const before = containersOf(server, APP);
    const missing = await runAction(compose(server, { image: `${IMAGE}:v2` }), {
      files: { ...WORKSPACE, 'compose.yaml': `${COMPOSE.replace('volumes:\n  pgdata', '  search:\n    image: 127.0.0.1:9/missing:1\nvolumes:\n  pgdata')}` },
    });
    expect(missing.code, missing.stdout).toBe(1);
    expect(missing.summary).toMatch(/service search: image 127\.0\.0\.1:9\/missing:1 is neither on this server nor on the runner, and pulling it failed: .*nothing was changed/);
    expect(containersOf(server, APP)).toEqual(before);
    expect(missing.outputs['active-slot']).toBe('blue');
    expect(serverCompose(server)).toBe(COMPOSE);

    const status = await runAction(compose(server, { command: 'status', image: '' }));
    expect(status.code, status.stdout).toBe(0);
    expect(status.summary).toMatch(/\| cache \| cmp-cache-1 \| running \| bluegreen-test\/redis:7 \|/);
    expect(status.summary).toMatch(/\| web \| cmp-blue \| running \| bluegreen-test\/compose-app:v1 \|/);
    expect(status.summary).toMatch(/\| jobs \| cmp-green-jobs-1 \| exited \| bluegreen-test\/compose-app:v2 \|/);

    // remove: every container goes, the named volume stays; a new deploy finds the data.
    const removed = await runAction(compose(server, { command: 'remove', image: '' }));
    expect(removed.code, removed.stdout).toBe(0);
    expect(remoteDocker(server, ['ps', '-a', '--filter', `label=com.docker.compose.project=${APP}`, '-q']).trim()).toBe('');
    expect(remoteDocker(server, ['volume', 'ls', '-q']).split('\n')).toContain(`${APP}_pgdata`);
    expect(existsSync(`${server.home}/.bluegreen/apps/${APP}/compose`)).toBe(false);
    // What follows is compose's own, the same on either image store: once is enough.
    if (kind === 'classic') return;
    const again = await deploy(server, 'v2');
    expect(again.code, again.stdout).toBe(0);
    expect(psql(server, 'SELECT count(*) FROM releases')).toBe('4');

    const gone = await runAction(compose(server, { command: 'remove', image: '', 'remove-volumes': 'true' }));
    expect(gone.code, gone.stdout).toBe(0);
    expect(remoteDocker(server, ['volume', 'ls', '-q']).split('\n')).not.toContain(`${APP}_pgdata`);
  });
});

describe('engine: compose on a server without Compose v2', () => {
  const server = testServer('classic');
  // The classic server's Compose is a CLI plugin of the deploy user's (test/server/up.sh).
  const plugin = `${server.home}/.docker/cli-plugins/docker-compose`;

  it('fails before anything changes, saying how to install it', async () => {
    resetServer(server);
    renameSync(plugin, `${plugin}.away`);
    let run: ActionRun, status: ActionRun;
    try {
      run = await deploy(server, 'v1');
      // A command that sends nothing is refused by the server script itself, the same way.
      status = await runAction(compose(server, { command: 'status', image: '' }));
    } finally {
      renameSync(`${plugin}.away`, plugin);
    }
    expect(run.code, run.stdout).toBe(1);
    expect(run.summary).toMatch(/needs Docker Compose v2 \(the docker compose command\) on this server.*install the docker-compose-plugin package/);
    expect(run.stdout).not.toContain('Send '); // refused before any image went
    expect(containersOf(server, APP)).toEqual([]);
    expect(existsSync(`${server.home}/.bluegreen/apps/${APP}`)).toBe(false);
    expect(status.code, status.stdout).toBe(1);
    expect(status.summary).toMatch(/needs Docker Compose v2 \(the docker compose command\) on this server/);
  });
});
