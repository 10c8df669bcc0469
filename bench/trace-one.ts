// One deploy on the classic server, each line of the action's log with its time since the start.
import { runAction } from '../test/helpers/action-runner';
import { resetServer, serverInputs, testServer } from '../test/helpers/server';
const server = testServer('classic');
async function main() {
  if (process.env.RESET) resetServer(server);
  const version = process.argv[2] ?? 'v1';
  const extra = JSON.parse(process.argv[3] ?? '{}');
  const start = Date.now();
  console.log(`start ${start}`);
  const run = await runAction(serverInputs(server, { app: 'bench', image: `${server.appImage}:${version}`, ...extra }), {
    onLine: (line) => console.log(`${String(Date.now() - start).padStart(5)} ${line}`),
  });
  console.log(`exit ${run.code} in ${Date.now() - start} ms`);
}
void main();
