import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { actionNode, runAction } from '../helpers/action-runner';
import { TestServer, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;
let isolated: string;

describe('dist/index.js as GitHub runs it', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
    // GitHub never runs npm install for an action: only action.yml and dist/ are there.
    isolated = mkdtempSync(join(tmpdir(), 'bluegreen-isolated-'));
    cpSync(join(__dirname, '../../action.yml'), join(isolated, 'action.yml'));
    cpSync(join(__dirname, '../../dist'), join(isolated, 'dist'), { recursive: true });
  });

  it('runs from a folder with no node_modules and deploys, under the Node action.yml names (24)', async () => {
    expect(readdirSync(isolated).sort()).toEqual(['action.yml', 'dist']);
    // test/server/up.sh provides Node 24 for the bundle (actionNode); every runAction runs under it.
    expect(execFileSync(actionNode(), ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
    const run = await runAction(serverInputs(server, { app: 'bundle', image: `${server.appImage}:v1` }), { actionDir: isolated });
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.result).toBe('switched');
    expect(run.summary).toContain('bundle: switched none → BLUE');
  }, 90_000);

  it.each([
    [{ host: '' }, "Input 'host': is required"],
    [{ port: 'twenty-two' }, "Input 'port': expected a whole number"],
    [{ 'ssh-key': 'not a key' }, "Input 'ssh-key': does not look like a private key"],
    [{ 'known-hosts': '', 'host-fingerprint': '' }, "Input 'known-hosts': the server's host key is not pinned"],
  ])('fails with one clear line and exit 1 on bad input %o', async (bad, message) => {
    const run = await runAction({ ...serverInputs(server, { image: 'x:1' }), ...bad }, { actionDir: isolated });
    expect(run.code).toBe(1);
    const errors = run.stdout.split('\n').filter((line) => line.startsWith('::error::'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
    expect(run.stdout).not.toMatch(/at .*\.js:\d+/); // no stack trace
    // A workflow that branches on result gets 'failed', and the job summary says what to fix.
    expect(run.outputs.result).toBe('failed');
    expect(run.outputs['bytes-sent']).toBe('0');
    expect(run.summary).toContain(message);
    expect(run.summary).toContain('Nothing was connected to or changed on any server');
  });
});
