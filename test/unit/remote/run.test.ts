import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startBashCommand } from '../../../src/remote/run';

// The command runs under sh (a login shell), as the server's sshd runs it, fed the script then the rest.
const start = (script: string, rest: string) => spawnSync('sh', ['-c', startBashCommand(Buffer.byteLength(script))], { input: script + rest, encoding: 'utf8' });

describe('startBashCommand', () => {
  it("runs exactly the script's bytes; what follows stays on standard input for the script to read", () => {
    const script = 'set -euo pipefail\nf() { printf \'é %s\\n\' "$1"; }\nf one\nread -r word\nf "$word"\n';
    const run = start(script, 'go\n');
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('é one\né go\n');
    expect(run.status).toBe(0);
  });

  it('keeps errexit and the exit status of the script', () => {
    const run = start('set -e\nfalse\necho never\n', '');
    expect(run.stdout).toBe('');
    expect(run.status).toBe(1);
    expect(start('exit 7\n', '').status).toBe(7);
  });
});
