// Rollout benchmark (issue 13), side by side in one run on the three test servers: three sequential
// one-host runs of the action (what a workflow with a matrix or a loop does) against one run with
// the three hosts (rolling, and all at once). Each flow starts from servers with their proxy but no
// app and no app image, deploys v1 (the whole image goes to each host) then v2 (only the version's
// layer).
// Figures: wall time of each deploy, and bytes sent in all (the runs' bytes-sent outputs).
// Run: bash bench/rollout.sh   (ROUNDS=N, default 2)
import { runAction } from '../test/helpers/action-runner';
import { type TestServer, resetServerAndImages, serverInputs, testServer } from '../test/helpers/server';
import { readFileSync } from 'node:fs';

const ROUNDS = Number(process.env.ROUNDS ?? 2);
const servers: TestServer[] = [testServer('classic'), testServer('modern'), testServer('third')];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const oneHost = (server: TestServer, version: string) => serverInputs(server, { app: 'bench', hostname: 'bench.test', image: `${server.appImage}:${version}`, 'health-timeout': '10s' });

const allHosts = (version: string, rollout: string) =>
  serverInputs(servers[0], {
    host: servers.map((s) => `${s.host}:${s.sshPort}`).join('\n'),
    'known-hosts': servers.map((s) => readFileSync(s.knownHosts, 'utf8')).join(''),
    app: 'bench',
    hostname: 'bench.test',
    image: `${servers[0].appImage}:${version}`,
    'health-timeout': '10s',
    rollout,
  });

/**
 * Servers with their own proxy (made with each server's own proxy-ports, as a user's servers have
 * it) and neither the app nor its image: a one-host deploy, then remove (which takes the image too).
 */
async function freshServers(): Promise<void> {
  for (const server of servers) {
    resetServerAndImages(server);
    for (const command of ['deploy', 'remove']) {
      const run = await runAction({ ...oneHost(server, 'v1'), command });
      if (run.code !== 0) throw new Error(`preparing ${server.sshPort} (${command}) failed: ${run.stdout}`);
    }
  }
}

/** One deploy by the flow: wall seconds and bytes sent over all hosts. */
type Step = (version: string) => Promise<{ seconds: number; bytes: number }>;

const sequential: Step = async (version) => {
  const started = Date.now();
  let bytes = 0;
  for (const server of servers) {
    const run = await runAction(oneHost(server, version));
    if (run.code !== 0) throw new Error(`one-host deploy of ${version} to ${server.sshPort} failed: ${run.stdout}`);
    bytes += Number(run.outputs['bytes-sent']);
  }
  return { seconds: (Date.now() - started) / 1000, bytes };
};

const together =
  (rollout: string): Step =>
  async (version) => {
    const started = Date.now();
    const run = await runAction(allHosts(version, rollout));
    if (run.code !== 0) throw new Error(`${rollout} deploy of ${version} failed: ${run.stdout}`);
    return { seconds: (Date.now() - started) / 1000, bytes: Number(run.outputs['bytes-sent']) };
  };

const FLOWS: Array<[string, Step]> = [
  ['3 one-host runs, one after the other', sequential],
  ['one run, 3 hosts, rolling', together('rolling')],
  ['one run, 3 hosts, all-at-once', together('all-at-once')],
];

const mib = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const [name, step] of FLOWS) {
    const first: Array<{ seconds: number; bytes: number }> = [];
    const next: Array<{ seconds: number; bytes: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      await freshServers();
      first.push(await step('v1'));
      next.push(await step('v2'));
      process.stderr.write(`${name}: round ${round + 1}: v1 ${first.at(-1)!.seconds.toFixed(1)} s, v2 ${next.at(-1)!.seconds.toFixed(1)} s\n`);
    }
    rows.push(
      `| ${name} | ${median(first.map((r) => r.seconds)).toFixed(1)} s | ${mib(median(first.map((r) => r.bytes)))} | ${median(next.map((r) => r.seconds)).toFixed(1)} s | ${mib(median(next.map((r) => r.bytes)))} |`,
    );
  }
  for (const server of servers) resetServerAndImages(server);
  console.log(`\nRollout to 3 hosts (median of ${ROUNDS}; the test app: 30 MiB shared layer + a version layer)\n`);
  console.log('| flow | first deploy | bytes | next version | bytes |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
