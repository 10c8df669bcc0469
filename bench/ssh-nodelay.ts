// SSH with and without Nagle's algorithm, side by side in one run against the test server's sshd:
// connect and authenticate, then one `true` (the action turns Nagle off: src/ssh/session.ts).
// Run: bash test/server/up.sh && npx tsx bench/ssh-nodelay.ts   (ROUNDS=N)
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { testServer } from '../test/helpers/server';

const server = testServer('classic');
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function once(noDelay: boolean): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const started = Date.now();
    client.on('error', reject);
    client.on('ready', () => {
      const connected = Date.now() - started;
      client.exec('true', (error, channel) => {
        if (error) return reject(error);
        channel.resume();
        channel.stderr.resume();
        channel.on('close', () => {
          client.end();
          resolve([connected, Date.now() - started - connected]);
        });
      });
    });
    client.connect({ host: server.host, port: server.sshPort, username: server.user, privateKey: readFileSync(server.key) });
    if (noDelay) client.setNoDelay(true);
  });
}

async function main(): Promise<void> {
  const results = { on: [] as Array<[number, number]>, off: [] as Array<[number, number]> };
  for (let i = 0; i < ROUNDS; i++) {
    results.on.push(await once(false));
    results.off.push(await once(true));
  }
  console.log(`SSH to ${server.host}:${server.sshPort}, ${ROUNDS} rounds alternating, medians\n| Nagle | connect and authenticate | one command |\n| --- | --- | --- |`);
  for (const [name, rows] of Object.entries(results)) console.log(`| ${name} | ${median(rows.map((r) => r[0]))} ms | ${median(rows.map((r) => r[1]))} ms |`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
