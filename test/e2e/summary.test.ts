import { beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestServer, localDocker, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;
const SECRET = 'tok_9f8e7d6c5b4a-very-secret';

/** Everything the run printed except the ::add-mask:: commands that register secrets with the runner. */
const visibleLog = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');

describe('job summary and outputs, from the bundled action', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it('on success: outputs for later steps and a summary that says what happened', async () => {
    const run = await runAction(serverInputs(server, { app: 'summary', image: `${server.appImage}:v1`, env: `API_TOKEN=${SECRET}\nMODE=test` }));
    expect(run.code, run.stdout).toBe(0);
    const id = localDocker(['image', 'inspect', '-f', '{{.Id}}', `${server.appImage}:v1`]).trim();
    expect(run.outputs).toMatchObject({ result: 'switched', 'active-slot': 'blue', 'previous-slot': '', 'image-id': id, url: `http://127.0.0.1:${server.proxyPort}/` });
    expect(Number(run.outputs['duration-seconds'])).toBeGreaterThan(0);
    expect(Number(run.outputs['bytes-sent'])).toBeGreaterThanOrEqual(0);
    const health = JSON.parse(run.outputs['health-log']) as Array<{ try: number; status: number | null; latencyMs: number }>;
    expect(health.length).toBeGreaterThanOrEqual(2);
    expect(health.slice(-2).map((t) => t.status)).toEqual([200, 200]);
    expect(health.map((t) => t.try)).toEqual(health.map((_, i) => i + 1));

    expect(run.summary).toContain('## ✅ summary: switched none → BLUE');
    expect(run.summary).toContain(`| **Image** | \`${server.appImage}:v1\` (${id.slice(7, 19)}) |`);
    expect(run.summary).toContain(`| **URL** | http://127.0.0.1:${server.proxyPort}/ |`);
    expect(run.summary).toMatch(/\| \*\*Phases\*\* \| .*health \d+\.\ds .*switch/);
    expect(run.summary).toContain('### Health checks');
    expect(run.summary).toMatch(/\| \d+ \| \d+\.\ds \| 200 \| \d+ ms \|/);
    // The env value reached the app, the file it went in is gone (only the record rollback-to and run
    // use stays, 0600 like Docker's own copy), and it is in no log line and not in the summary.
    expect(remoteDocker(server, ['inspect', '-f', '{{json .Config.Env}}', 'summary-blue'])).toContain(`"API_TOKEN=${SECRET}"`);
    const appDir = `/home/${server.user}/.bluegreen/apps/summary`;
    expect(readdirSync(appDir).filter((f) => f.includes('env'))).toEqual(['container.env']);
    expect(statSync(`${appDir}/container.env`).mode & 0o777).toBe(0o600);
    expect(visibleLog(run.stdout)).not.toContain(SECRET);
    expect(run.summary).not.toContain(SECRET);
    expect(run.outputs['health-log']).not.toContain(SECRET);
  }, 90_000);

  it('on a failed health check: exit 3, result failed, the container logs, and what is still live', async () => {
    const run = await runAction(serverInputs(server, { app: 'summary', image: `${server.appImage}:v3`, 'health-timeout': '4s' }));
    expect(run.code).toBe(3);
    expect(run.outputs).toMatchObject({ result: 'failed', 'active-slot': 'blue', 'previous-slot': 'blue' });
    const health = JSON.parse(run.outputs['health-log']) as Array<{ status: number | null }>;
    expect(health.length).toBeGreaterThanOrEqual(3);
    expect(health.every((t) => t.status === 503)).toBe(true);
    expect(run.summary).toContain(`## ❌ summary: ${server.appImage}:v3 failed its health check; BLUE still live`);
    expect(run.summary).toContain('did not become healthy within 4s (last answer: 503)');
    expect(run.summary).toContain('### Last log lines of the failed container');
    expect(run.summary).toContain('testapp v3 listening on :8080 (ready never)');
    const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error::'));
    expect(errors).toEqual([expect.stringMatching(/summary on 127\.0\.0\.1: the new version did not become healthy.*\(BLUE is still live\)/)]);
    expect(await fetch(`http://127.0.0.1:${server.proxyPort}/`).then((r) => r.text())).toBe('v1\n');
  }, 90_000);

  it('on a failing app that logs 20 MB, the result markers and a secret with &<>|: exit 3, the end of its log, the secret redacted', async () => {
    const context = mkdtempSync(join(tmpdir(), 'bluegreen-ctx-'));
    const secret = 'pa&ss<wo>rd|42';
    // One 20 MB line, then what a confused app might print: the markers, a fake result, the secret.
    const script = [
      "head -c 20000000 /dev/zero | tr '\\0' x",
      'echo',
      "echo '::bluegreen-result-begin::'",
      `echo '{"version":2,"outcome":"switched","health":[]}'`,
      "echo '::bluegreen-result-end::'",
      'echo "connecting with $DB_PASSWORD"',
      'echo last-line-of-the-log',
      'sleep 600',
    ].join('; ');
    writeFileSync(join(context, 'Dockerfile'), `FROM bluegreen-test/busybox:1\nCMD ["sh", "-c", ${JSON.stringify(script)}]\n`);
    const run = await runAction(
      serverInputs(server, {
        app: 'noisy',
        hostname: 'noisy.test', // 'summary' is the proxy's default server
        image: 'bluegreen-test/noisy:1',
        build: 'true',
        context,
        env: `DB_PASSWORD=${secret}`,
        'health-timeout': '3s',
      }),
    );
    expect(run.code, run.stdout.slice(-2000)).toBe(3);
    expect(run.outputs.result).toBe('failed');
    expect(run.summary).toContain('last-line-of-the-log');
    expect(run.summary).toContain('::bluegreen-result-begin::'); // shown as the app's text, not taken for the result
    expect(run.summary.length).toBeLessThan(200_000);
    for (const form of [secret, 'pa&amp;ss', 'rd\\|42']) expect(run.summary).not.toContain(form);
    expect(run.summary).toContain('connecting with ***');
  }, 120_000);

  it('on an unreachable server: exit 1, result failed, a summary naming the problem', async () => {
    const run = await runAction(serverInputs(server, { app: 'summary', image: `${server.appImage}:v1`, port: '1', 'connect-timeout': '3s' }));
    expect(run.code).toBe(1);
    expect(run.outputs).toMatchObject({ result: 'failed', 'active-slot': '', 'bytes-sent': '0' });
    expect(run.summary).toContain('## ❌ summary: deploy failed; nothing changed on the server');
    expect(run.summary).toContain('nothing accepts SSH connections at 127.0.0.1:1');
    expect(run.stdout).toMatch(/::error::summary on 127\.0\.0\.1: nothing accepts SSH connections at 127\.0\.0\.1:1 \(connection refused\) \(nothing changed on the server\)/);
  }, 30_000);

  it('on a server without bash: exit 1 and a line that says so', async () => {
    const run = await runAction(serverInputs(server, { app: 'summary', command: 'status', user: server.nobashUser }));
    expect(run.code).toBe(1);
    expect(run.outputs.result).toBe('failed');
    expect(run.stdout).toMatch(/::error::summary on 127\.0\.0\.1: 127\.0\.0\.1 has no bash; install it \(apt-get install bash\) to deploy there/);
    expect(run.summary).toContain('has no bash');
  }, 30_000);
});
