// One deploy on the classic server, each line of the action's log with its time since the start.
// npx tsx bench/trace-one.ts VERSION '{"input":"value"}'   (LOAD=N: N clients of short requests during the deploy, as bench/deploy.ts; TRAFFIC=1: the receipt; PHASES=1: the summary's phases;
// ACTION_DIR=DIR: the action.yml and dist/ in DIR instead of this checkout's, to compare two builds)
import { runAction } from '../test/helpers/action-runner';
import { failures, startLoad } from '../test/helpers/load';
import { resetServer, serverInputs, testServer } from '../test/helpers/server';
const server = testServer('classic');
async function main() {
  if (process.env.RESET) resetServer(server);
  const version = process.argv[2] ?? 'v1';
  const extra = JSON.parse(process.argv[3] ?? '{}');
  const clients = Number(process.env.LOAD ?? 0);
  const load = clients ? startLoad({ port: server.proxyPort, steadyWorkers: clients, slowWorkers: 0, maxSeconds: 60 }) : undefined;
  if (load) await new Promise((r) => setTimeout(r, 1000));
  const start = Date.now();
  console.log(`start ${start}`);
  const run = await runAction(serverInputs(server, { app: 'bench', image: `${server.appImage}:${version}`, ...extra }), {
    onLine: (line) => console.log(`${String(Date.now() - start).padStart(5)} ${line}`),
    actionDir: process.env.ACTION_DIR || undefined,
  });
  console.log(`exit ${run.code} in ${Date.now() - start} ms`);
  if (process.env.TRAFFIC) console.log(run.outputs.traffic);
  if (process.env.PHASES)
    console.log(
      run.summary
        .split('\n')
        .filter((l) => /phase|time|⏱|seconds/i.test(l))
        .join('\n'),
    );
  if (load) {
    const samples = await load.stop();
    const slow = samples.filter((s) => s.end - s.start > 500);
    console.log(`load: ${samples.length} requests, ${failures(samples).length} failed; over 0.5 s: ${slow.map((s) => `${s.start - start}+${s.end - s.start}ms`).join(' ') || 'none'}`);
  }
}
void main();
