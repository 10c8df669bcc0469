import type { SshSession } from '../ssh/session';
import { PassThrough } from 'node:stream';
import { BARRIER_GO, BARRIER_LINE, RESULT_BEGIN, RESULT_END, RemoteResult, ResultError, parseRemoteResult } from './result';
import { ScriptInput, renderDeployScript } from './script';

/**
 * Runs with the user's login shell: say clearly when the server has no bash, then hand over to it.
 * bash reads a script from a pipe one byte at a time (so as not to take what follows it); the script's
 * exact length in bytes is read in one go instead and evaluated (a 200 kB script starts 60 ms sooner),
 * and what follows it on standard input (the runner's word, with several hosts) stays unread.
 */
export function startBashCommand(scriptBytes: number): string {
  const noBash = `command -v bash >/dev/null 2>&1 || { echo 'bluegreen: bash is not installed on this server; the deploy script needs it' >&2; exit 127; }`;
  return `${noBash}; exec bash -c 's=$(head -c ${scriptBytes}) || exit 1; eval "$s"'`;
}

/**
 * Sends the generated script to bash over the session, streams its progress lines to `log` as
 * they happen (the result block itself is not logged), and returns the parsed result.
 */
export async function runRemoteScript(
  ssh: SshSession,
  input: ScriptInput,
  log: (line: string) => void,
  /** All at once (input.barrierSeconds): called when the new version is healthy; true lets it switch. */
  healthy?: () => Promise<boolean>,
): Promise<RemoteResult> {
  let inResult = false;
  // The result block is kept apart as it streams: the session's capture of stdout is capped, and a
  // long log before the result must not push it out.
  let resultBlock: string[] = [];
  const script = renderDeployScript(input);
  // With a barrier the script's standard input stays open after its text: the runner's word follows.
  const stdin = input.barrierSeconds ? new PassThrough() : undefined;
  stdin?.write(script);
  const answer = (go: boolean) => {
    if (stdin && !stdin.writableEnded) stdin.end(go ? `${BARRIER_GO}\n` : 'called-off\n');
  };
  const result = await ssh
    .exec(startBashCommand(Buffer.byteLength(script)), {
      stdin: stdin ?? script,
      onStdoutLine: (line) => {
        if (line === BARRIER_LINE) {
          (healthy ?? (() => Promise.resolve(false)))().then(answer, () => answer(false));
          return;
        }
        if (line === RESULT_BEGIN) {
          inResult = true;
          resultBlock = [];
        }
        if (inResult) resultBlock.push(line);
        else log(line);
        if (line === RESULT_END) inResult = false;
      },
      onStderrLine: (line) => log(line),
    })
    .finally(() => answer(false));
  if (result.code === 127 && /bash is not installed/.test(result.stderr)) {
    throw new Error(`${ssh.config.host} has no bash; install it (apt-get install bash) to deploy there`);
  }
  const reported = resultBlock.at(-1) === RESULT_END;
  if (result.code === null && !reported) {
    throw new ResultError(`the connection to ${ssh.config.host} broke while the deploy script ran (${ssh.dropped?.message ?? 'no exit status'}); run status to see what is live`);
  }
  return parseRemoteResult(resultBlock.join('\n'));
}
