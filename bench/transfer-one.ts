// One transfer with this project's code, as the action does it; prints figures as JSON.
// Usage: node .bench/js/bench/transfer-one.js IMAGE [RUNNER SERVER]  (classic|modern each; the test server's
// details come from test/helpers/server.ts)
import { readConfig } from '../src/config';
import { ImageStore } from '../src/image';
import { SshSession } from '../src/ssh';
import { ensureImageOnServer } from '../src/transfer';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { RunnerKind, ServerKind, runnerDockerHost, testServer } from '../test/helpers/server';

async function main(): Promise<void> {
  const server = testServer((process.argv[4] ?? 'classic') as ServerKind);
  const runnerHost = runnerDockerHost((process.argv[3] ?? 'classic') as RunnerKind);
  const inputs: Record<string, string> = {
    command: 'deploy', host: server.host, port: String(server.sshPort), user: server.user, 'ssh-key': readFileSync(server.key, 'utf8'),
    'ssh-key-passphrase': '', 'known-hosts': readFileSync(server.knownHosts, 'utf8'), 'host-fingerprint': '', 'insecure-skip-host-key-check': 'false',
    'connect-timeout': '20s', 'connect-retries': '0', image: process.argv[2], build: 'false', context: '.', dockerfile: '', 'build-args': '', target: '',
    app: 'bench', hostname: '', network: 'bluegreen', 'proxy-name': 'bluegreen-proxy', 'proxy-image': 'nginx', 'proxy-ports': '80:80', 'container-port': '8080',
    env: '', volumes: '', 'docker-args': '', 'health-path': '/', 'health-status': '', 'health-successes': '2', 'health-interval': '1', 'health-timeout': '60',
    'health-try-timeout': '5', 'drain-seconds': '5', 'stop-timeout': '30', 'keep-images': '3', 'lock-timeout': '5m', 'state-dir': '~/.bluegreen',
  };
  const config = readConfig((name) => inputs[name] ?? '');
  const store = new ImageStore(runnerHost ? new Docker({ socketPath: runnerHost.replace(/^unix:\/\//, '') }) : new Docker());
  const image = (await store.inspect(config.image))!;
  const started = Date.now();
  const at = () => `+${Date.now() - started}ms`;
  const ssh = await SshSession.connect(config.ssh);
  process.stderr.write(`  ${at()} connected\n`);
  const result = await ensureImageOnServer(ssh, store, image, { log: (l) => process.stderr.write(`  ${at()} ${l}\n`) });
  process.stderr.write(`  ${at()} done\n`);
  ssh.close();
  const wall = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ wall, bytesSent: result.bytesSent, layersSkipped: result.layersSkipped, skipped: result.skipped, resentWhole: result.resentWhole, maxRssKiB: process.resourceUsage().maxRSS }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
