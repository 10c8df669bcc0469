// The embedded default for a local run: deploy the test app v1 then v2 to the test server.
import { runAction } from '../test/helpers/action-runner';
import { serverInputs, testServer } from '../test/helpers/server';

async function main(): Promise<void> {
  const server = testServer();
  const versions = process.argv.slice(2).length ? process.argv.slice(2) : ['v1', 'v2'];
  for (const version of versions) {
    const inputs = serverInputs(server, { app: 'example', image: `${server.appImage}:${version}`, 'drain-seconds': '2' });
    console.log(`\n=============== deploy ${inputs.image} to ${server.user}@${server.host}:${server.sshPort} ===============`);
    const run = await runAction(inputs, {
      // The runner hides ::add-mask:: commands; so do we.
      onLine: (line) => line.startsWith('::add-mask::') || console.log(`  ${line}`),
    });
    console.log(`\n--- exit code ${run.code} after ${run.seconds.toFixed(1)}s`);
    if (run.stderr) console.log(`--- stderr:\n${run.stderr}`);
    console.log('--- step outputs:');
    for (const [name, value] of Object.entries(run.outputs)) console.log(`  ${name} = ${value}`);
    console.log('--- job summary:\n');
    console.log(run.summary);
    if (run.code !== 0) process.exitCode = run.code ?? 1;
  }
  const body = await fetch(`http://127.0.0.1:${server.proxyPort}/`).then(
    (r) => r.text(),
    (e: Error) => e.message,
  );
  console.log(`curl http://127.0.0.1:${server.proxyPort}/ -> ${body.trim()}`);
}

void main();
