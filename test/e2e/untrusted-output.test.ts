// Text from the server is shown, never obeyed: a login script that prints workflow commands.
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { TestServer, serverInputs, testServer } from '../helpers/server';

describe('lines from the server', () => {
  let server: TestServer;
  let bashrc: string;
  const backup = '/tmp/bluegreen-test-bashrc.backup';

  beforeAll(() => {
    server = testServer('classic');
    bashrc = `${server.home}/.bashrc`;
    if (existsSync(bashrc)) copyFileSync(bashrc, backup);
    // bash sources ~/.bashrc when sshd starts it, also for a command: the server's own text.
    const injected = 'echo "::warning::injected by the server"; printf "progress\\r::error::after a carriage return\\n"\n';
    writeFileSync(bashrc, injected + (existsSync(backup) ? readFileSync(backup, 'utf8') : ''));
  });

  afterAll(() => {
    if (existsSync(backup)) {
      copyFileSync(backup, bashrc);
      rmSync(backup);
    } else rmSync(bashrc, { force: true });
  });

  it('run with workflow commands stopped, under a token the server never sees', async () => {
    const run = await runAction(serverInputs(server, { app: 'quiet', command: 'status', image: '' }));
    const lines = run.stdout.split('\n');
    const injected = lines.filter((l) => l.includes('injected by the server') || l.includes('after a carriage return'));
    expect(injected.length).toBeGreaterThanOrEqual(2);
    for (const line of injected) {
      const at = lines.indexOf(line);
      const stop = lines.slice(0, at).reverse().find((l) => /^::stop-commands::[0-9a-f]{32}$/.test(l) || /^::[0-9a-f]{32}::$/.test(l));
      expect(stop, `no stop-commands before: ${line}`).toMatch(/^::stop-commands::/); // the last command switch before it stopped them
      const token = stop!.slice('::stop-commands::'.length);
      expect(lines.slice(at).some((l) => l === `::${token}::`)).toBe(true);
    }
  }, 60_000);
});
