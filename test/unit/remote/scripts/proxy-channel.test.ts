// The proxy channel's protocol (proxy-channel.sh), against a stand-in for `docker exec` that runs the
// proxy's side as a local sh (dash): every answer must be exactly what a docker exec of its own
// gives, through the channel, after it broke, and from a subshell. The real proxy's channel is
// exercised by every e2e deploy.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../../../src/inputs/config';
import { renderDeployScript } from '../../../../src/remote/script';
import { readerFor } from '../../../helpers/action-inputs';
import { baseInputs } from '../../../helpers/fixtures';
import { runAfterScript } from '../../../helpers/source-script';

const dir = mkdtempSync(join(tmpdir(), 'bg-channel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// `docker exec -i NAME sh` (the channel) and `docker exec NAME sh -c PROGRAM sh ARGS...` (one call),
// each logged, the container's name dropped.
writeFileSync(
  join(dir, 'docker'),
  `#!/bin/bash
[[ $1 == exec ]] || exit 99
shift
if [[ $1 == -i ]]; then echo channel >>"${dir}/calls"; exec dash; fi
echo exec >>"${dir}/calls"
shift 2
exec dash "$@"
`,
);
chmodSync(join(dir, 'docker'), 0o755);

const config = readConfig(readerFor(baseInputs()));
const script = renderDeployScript({ command: 'deploy', locks: true, deploy: config.deploy, image: config.image, imageId: 'sha256:' + 'ab'.repeat(32), serverImageId: '', gitSha: '', runUrl: '' });

/** Runs bash code with the script's functions and the stand-in docker; what it printed and which docker calls it made. */
function run(code: string): { stdout: string; calls: string[] } {
  writeFileSync(join(dir, 'calls'), '');
  const r = runAfterScript(script, `trap '' PIPE\n${code}`, { home: dir, path: dir });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { stdout: r.stdout, calls: readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean) };
}

// Each program's answer, printed as [OUTPUT] STATUS: with the channel, and with a docker exec of its own.
const programs: Array<[string, string, string[]]> = [
  ['plain output', 'echo hello', []],
  ['no output', 'true', []],
  ['trailing newlines dropped, as $(...) drops them', 'printf "a\\n\\nb\\n\\n\\n"', []],
  ['no newline at the end', 'printf "no end"', []],
  ['stdout and stderr together', 'echo out; echo err >&2; echo out2', []],
  ['an exit status', 'echo before; exit 7', []],
  ['a status only', 'exit 3', []],
  ['words that need quoting', 'for a in "$@"; do printf "<%s>\\n" "$a"; done', ["it's", '"double" $HOME `x` \\back', 'two\nlines', '', ' spaced ']],
  ['a long answer, in one read', 'i=0; while [ $i -lt 20000 ]; do echo "line $i of a long answer"; i=$((i+1)); done', []],
  ['a line like a header', 'echo "1.2.3 0 5"; echo x', []],
];
const asked = programs.map(([, program, args]) => `answer ${[program, ...args].map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ')}`).join('\n');
const answerFn = `answer() { local out status=0; out=$(proxy_sh "$@") || status=$?; printf '[%s] %s\\n' "$out" "$status"; }`;

describe('proxy_sh: a program run inside the proxy', () => {
  const viaChannel = run(`${answerFn}\nproxy_channel_open\n${asked}\nproxy_channel_close`);
  const viaExec = run(`${answerFn}\n${asked}`);

  it('answers through the channel exactly as a docker exec of its own does', () => {
    expect(viaExec.calls).toEqual(programs.map(() => 'exec'));
    expect(viaChannel.stdout).toBe(viaExec.stdout);
  });

  it('holds one docker exec for all of them', () => {
    expect(viaChannel.calls).toEqual(['channel']);
  });

  it.each(programs.map(([name], i) => [name, i]))('%s', (_name, i) => {
    const answers = viaExec.stdout.split(/(?<=\] \d+)\n/);
    const [, program, args] = programs[i as number];
    // The reference: bash's own $(...) of sh -c.
    const local = run(
      `out=$(dash -c ${`'${program.replace(/'/g, `'\\''`)}'`} sh ${args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} 2>&1) && status=0 || status=$?; printf '[%s] %s\\n' "$out" "$status"`,
    );
    expect(answers[i as number] + '\n').toBe(local.stdout.replace(/\n$/, '') + '\n');
  });
});

describe('proxy_sh when the channel breaks', () => {
  it('answers the call by a docker exec of its own, and proxy_channel_ensure opens a new channel', () => {
    const r = run(`${answerFn}
proxy_channel_open
answer 'echo first'
kill "$PROXY_CHANNEL_PID"; sleep 0.2
answer 'echo after the break'
kill -0 "$PROXY_CHANNEL_PID" 2>/dev/null || echo "the channel is gone"
proxy_channel_ensure
answer 'echo reopened'
proxy_channel_close`);
    expect(r.stdout).toBe('[first] 0\n[after the break] 0\nthe channel is gone\n[reopened] 0\n');
    expect(r.calls).toEqual(['channel', 'exec', 'channel']);
  });

  it('works from a subshell, and a channel broken there is opened again by the main shell', () => {
    const r = run(`${answerFn}
proxy_channel_open
x=$(proxy_sh 'echo from a subshell'); echo "$x"
( kill "$PROXY_CHANNEL_PID"; sleep 0.2; answer 'echo subshell after the break' )
proxy_channel_ensure
answer 'echo main again'
proxy_channel_close`);
    expect(r.stdout).toBe('from a subshell\n[subshell after the break] 0\n[main again] 0\n');
    expect(r.calls).toEqual(['channel', 'exec', 'channel']);
  });

  it('gives up on the channel after a few opens: a proxy that keeps restarting gets plain execs', () => {
    const r = run(`${answerFn}
for i in 1 2 3 4 5 6 7; do proxy_channel_ensure; kill "$PROXY_CHANNEL_PID" 2>/dev/null || true; wait "$PROXY_CHANNEL_PID" 2>/dev/null || true; done
proxy_channel_ensure
echo "opened $PROXY_CHANNEL_OPENS times; open now: \${PROXY_CHANNEL_PID:-no}"
answer 'echo still answered'`);
    expect(r.stdout).toBe('opened 5 times; open now: no\n[still answered] 0\n');
    expect(r.calls.at(-1)).toBe('exec');
  });
});
