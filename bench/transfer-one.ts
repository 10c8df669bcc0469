// One transfer with this project's code, as the action does it; prints figures as JSON.
// Usage: node .bench/js/bench/transfer-one.js IMAGE [RUNNER SERVER]  (classic|modern each; the test server's
// details come from test/helpers/server.ts)
import { readConfig } from '../src/inputs/config';
import { ImageStore } from '../src/image/local';
import { endpointOf } from '../src/image/engine-api';
import { SshSession } from '../src/ssh/session';
import { ensureImageOnServer } from '../src/image/transfer';

import { inputsWithDefaults } from '../test/helpers/action-inputs';
import { RunnerKind, ServerKind, runnerDockerHost, serverInputs, testServer } from '../test/helpers/server';

async function main(): Promise<void> {
  const server = testServer((process.argv[4] ?? 'classic') as ServerKind);
  const runnerHost = runnerDockerHost((process.argv[3] ?? 'classic') as RunnerKind);
  // action.yml's defaults for every input, as the runner would give them: new inputs need no change here.
  const inputs = inputsWithDefaults(serverInputs(server, { app: 'bench', image: process.argv[2], 'connect-timeout': '20s' }));
  const config = readConfig((name) => inputs[name] ?? '');
  const store = new ImageStore(endpointOf(runnerHost ? { DOCKER_HOST: runnerHost } : process.env));
  const image = (await store.inspect(config.image))!;
  const started = Date.now();
  const at = () => `+${Date.now() - started}ms`;
  const ssh = await SshSession.connect(config.hosts[0]);
  process.stderr.write(`  ${at()} connected\n`);
  const result = await ensureImageOnServer(ssh, store, image, { log: (l) => process.stderr.write(`  ${at()} ${l}\n`) });
  process.stderr.write(`  ${at()} done\n`);
  ssh.close();
  const wall = (Date.now() - started) / 1000;
  console.log(
    JSON.stringify({ wall, bytesSent: result.bytesSent, layersSkipped: result.layersSkipped, skipped: result.skipped, resentWhole: result.resentWhole, maxRssKiB: process.resourceUsage().maxRSS }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
