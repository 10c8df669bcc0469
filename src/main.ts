import * as core from './workflow-commands';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { type Config, readConfig } from './inputs/config';
import { InputError } from './inputs/read';
import { uncheckedHosts } from './inputs/ssh';
import { runContext } from './inputs/context';
import { type Ending, finishRun, publishRun, refuseRun } from './publish';
import { withCommandsStopped } from './report/stop-commands';
import { Cancellation, cancellableBy } from './rollout/cancel';
import { type HostRun, hostRunsOf } from './rollout/host';
import { planOf, targetsOf } from './rollout/plan';
import { rollOut } from './rollout/rollout';

/** After a cancel, the summary and outputs are written by then even if hosts are still switching back. */
const PROVISIONAL_AFTER_CANCEL_MS = 6000;

/** The whole run: inputs → plan → roll out → publish. Never throws; sets the exit code. */
export async function run(): Promise<void> {
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  const context = runContext(process.env);
  maskSecrets([core.getInput('ssh-key'), core.getInput('ssh-key-passphrase')]);
  let config: Config;
  try {
    config = readConfig((name) => core.getInput(name), { repository: context.repository, files: workspaceFile });
  } catch (error) {
    await refuseRun(context, error instanceof InputError ? error.message : `Invalid inputs: ${(error as Error).message}`, seconds());
    return;
  }
  maskSecrets(config.secrets);
  warnUncheckedHosts(config);

  const plan = planOf(config);
  const runs = hostRunsOf(config);
  const published = targetsOf(plan, runs);
  const end: Ending = { context, app: config.deploy.app, secrets: config.secrets };
  const cancellation = new Cancellation();
  let finished = false;
  // Only a run the signals can call off (several targets) has anything to say before it ends.
  if (plan.cancellable) {
    cancellation.onCancel((signal) => {
      core.warning(`${signal}: the run was cancelled; no further host starts, and hosts that switched are switched back`);
      // GitHub kills the step 10 s after its first signal: what is known by then is written down.
      setTimeout(() => {
        if (!finished) void publishRun(end, published, seconds(), `${signal}; still under way when the runner's grace period ran short`);
      }, PROVISIONAL_AFTER_CANCEL_MS).unref();
    });
  }
  const rollout = () => rollOut(plan, config, context, runs, cancellation, { log: (line) => core.info(line), group: serverGroup }).catch((error) => failUnfinished(published, error));
  await (plan.cancellable ? cancellableBy(cancellation, rollout) : rollout());
  finished = true;
  for (const run of runs) run.finish(seconds());
  await finishRun(end, published, seconds(), cancellation.reason);
}

/** What the rollout did not expect: the hosts still without a result fail with it. */
function failUnfinished(hosts: readonly HostRun[], error: unknown): void {
  for (const run of hosts) if (!run.report.remote) run.failed(error);
}

/** A file of the workspace (the working directory), for the compose engine; undefined when there is none. */
function workspaceFile(path: string): string | undefined {
  return existsSync(path) && statSync(path).isFile() ? readFileSync(path, 'utf8') : undefined;
}

const masked = new Set<string>();

/** Registers every secret with the runner before anything can print it. */
function maskSecrets(values: string[]): void {
  for (const value of values) {
    if (!value || masked.has(value.trim())) continue;
    masked.add(value.trim());
    core.setSecret(value);
    for (const line of value.split('\n')) if (line.trim().length >= 8 && !line.startsWith('-----')) core.setSecret(line.trim());
  }
}

function warnUncheckedHosts(config: Config): void {
  const unchecked = uncheckedHosts(config);
  if (unchecked.length === 0) return;
  const [first] = config.hosts;
  core.warning(
    `insecure-skip-host-key-check is true: the host key of ${unchecked.join(', ')} is not checked, so a man-in-the-middle could receive the image and the env. Pin it with known-hosts (ssh-keyscan -p ${first.port} ${first.host})${first.jump ? ', proxy-jump-known-hosts for the jump host,' : ''} or host-fingerprint.`,
  );
}

/** A log group whose lines may carry the server's text: shown, never obeyed as workflow commands. */
function serverGroup<T>(title: string, work: () => Promise<T>): Promise<T> {
  return core.group(title, () => withCommandsStopped((line) => core.info(line), work));
}
