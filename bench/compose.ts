// engine compose next to engine docker, side by side in one run on the Docker 28 server (the one with
// Compose v2): the same app image (bluegreen-test/compose-app, ready 1 s after start) deployed as one
// container, as the web service of a compose file alone, and as the web service of a compose app with
// Postgres, Redis and a worker (accessories kept up, the worker switched with the web). Each row
// deploys v1 and v2 in turn under steady load through the proxy. Overhead = wall time minus the app's
// start-up second; "services" is the compose phase (files, accessory images, docker compose up --wait).
// Run: bash bench/compose.sh   (ROUNDS=N, default 4)
import { runAction } from '../test/helpers/action-runner';
import { failures, startLoad } from '../test/helpers/load';
import { remoteDockerStatus, resetServer, serverInputs, testServer } from '../test/helpers/server';

const APP_STARTUP_SECONDS = 1;
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const IMAGE = 'bluegreen-test/compose-app';
const server = testServer('modern');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const WEB_ONLY = `services:\n  web:\n    image: ${IMAGE}\n`;
const FULL = `services:
  web:
    image: ${IMAGE}
    depends_on: [db, cache]
  jobs:
    image: ${IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
  db:
    image: bluegreen-test/postgres:15
    environment: { POSTGRES_PASSWORD: app }
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck: { test: ["CMD", "pg_isready", "-h", "127.0.0.1"], interval: 1s, retries: 60 }
  cache:
    image: bluegreen-test/redis:7
volumes:
  pgdata: {}
`;

interface Row {
  name: string;
  inputs: Record<string, string>;
  files?: Record<string, string>;
}

const ROWS: Row[] = [
  { name: 'engine docker, one container', inputs: {} },
  { name: 'engine compose, web service only', inputs: { engine: 'compose' }, files: { 'compose.yaml': WEB_ONLY } },
  { name: 'engine compose, web + Postgres + Redis + worker', inputs: { engine: 'compose', 'compose-service': 'web', 'worker-grace': '1s' }, files: { 'compose.yaml': FULL } },
];

async function measure(row: Row): Promise<string> {
  resetServer(server);
  remoteDockerStatus(server, ['volume', 'rm', '-f', 'bench_pgdata']);
  const deploy = async (version: string) => {
    const run = await runAction(serverInputs(server, { app: 'bench', image: `${IMAGE}:${version}`, 'health-timeout': '60s', ...row.inputs }), { files: row.files, timeoutMs: 400_000 });
    if (run.code !== 0) throw new Error(`${row.name}: deploy of ${version} failed: ${run.stdout}`);
    return run;
  };
  await deploy('v2');
  const load = startLoad({ port: server.proxyPort, steadyWorkers: 4, maxSeconds: 300 });
  const walls: number[] = [];
  const services: number[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const started = Date.now();
      const run = await deploy(i % 2 === 0 ? 'v1' : 'v2');
      walls.push((Date.now() - started) / 1000);
      const phase = /services (\d+(?:\.\d+)?)s/.exec(run.summary);
      if (phase) services.push(Number(phase[1]));
    }
  } finally {
    await load.stop();
  }
  const wall = median(walls);
  return `| ${row.name} | ${wall.toFixed(2)} s | ${(wall - APP_STARTUP_SECONDS).toFixed(2)} s | ${services.length ? `${median(services).toFixed(1)} s` : '-'} | ${load.samples.length} | ${failures(load.samples).length} |`;
}

async function main(): Promise<void> {
  console.log(`engine compose vs engine docker, ${server.kind} server, ${ROUNDS} deploys per row alternating v1/v2 (app ready ${APP_STARTUP_SECONDS} s after start), medians, steady load (4 clients)`);
  console.log('\n| flow | wall | overhead | services phase | requests | failed |\n| --- | --- | --- | --- | --- | --- |');
  for (const row of ROWS) console.log(await measure(row));
  resetServer(server);
  remoteDockerStatus(server, ['volume', 'rm', '-f', 'bench_pgdata']);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
