import type { SshConfig } from './config';
import type { ImageStore, LocalImage } from './image';
import { outcomeOf, type RunReport } from './report';
import { ResultError } from './remote/result';
import { runRemoteScript } from './remote/run';
import type { ScriptInput } from './remote/script';
import { SshSession } from './ssh';
import type { HostOutcome } from './fleet-report';
import { TransferError, ensureImageOnServer } from './transfer';
import type { Cancellation } from './cancel';
import { type HeldLock, LockError, takeRolloutLocks } from './rollout-lock';

/** One host of the run: what the report reads of it (fleet-report.ts), where it is, and its session once connected. */
export interface HostRun extends HostOutcome {
  ssh: SshConfig;
  session?: SshSession;
}

export type Log = (line: string) => void;

/** A host whose run never starts: its status, and the error its report shows. */
export function markNotStarted(report: RunReport, reason: string): void {
  report.notStarted = reason;
  report.error = `not started: ${reason}`;
}

/** What a failure on the runner's side means for a host's report (one host or several). */
export function recordFailure(report: RunReport, error: unknown): void {
  report.error = (error as Error).message;
  // What went over the wire is reported also when the transfer fails.
  if (error instanceof TransferError) report.bytesSent = error.bytesSent;
  // The script ran, but its answer never came: the server may have switched or not.
  if (error instanceof ResultError) report.resultLost = true;
}

/** Prefixes a host's lines when several hosts run at once; one host's lines stay as they were. */
export function hostLog(log: Log, runs: readonly HostRun[], run: HostRun): Log {
  return runs.length === 1 ? log : (line) => log(`[${run.label}] ${line}`);
}

/** Batches of at most `size` hosts, in the order given: a rolling rollout takes one after the other. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

/**
 * Connects to every host at once. If any cannot be reached, every session is closed again and each
 * unreachable host's report gets the error: the run changes nothing anywhere.
 */
export async function connectAll(runs: HostRun[], log: Log): Promise<boolean> {
  const settled = await Promise.allSettled(runs.map((run) => SshSession.connect(run.ssh, hostLog(log, runs, run))));
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') runs[i].session = s.value;
    else runs[i].report.error = (s.reason as Error).message;
  });
  if (settled.every((s) => s.status === 'fulfilled')) return true;
  const unreachable = runs.filter((r) => r.report.error !== undefined).map((r) => r.label);
  for (const run of runs) {
    run.session?.close();
    run.session = undefined;
    if (run.report.error === undefined) markNotStarted(run.report, `${unreachable.join(', ')} could not be reached`);
  }
  return false;
}

/** Sends the image to every host at once, each only what it lacks. False when any transfer failed. */
export async function sendToAll(runs: HostRun[], store: ImageStore, image: LocalImage, log: Log): Promise<boolean> {
  await Promise.all(
    runs.map(async (run) => {
      const started = Date.now();
      try {
        run.report.transfer = await ensureImageOnServer(run.session as SshSession, store, image, { log: hostLog(log, runs, run) });
      } catch (error) {
        recordFailure(run.report, error);
      } finally {
        run.report.phasesSeconds.transfer = (Date.now() - started) / 1000;
      }
    }),
  );
  const failed = runs.filter((r) => r.report.error !== undefined);
  if (failed.length === 0) return true;
  for (const run of runs) {
    if (run.report.error === undefined) markNotStarted(run.report, `the image did not reach ${failed.map((r) => r.label).join(', ')}`);
  }
  return false;
}

/**
 * Takes the app's rollout lock on every host (rollout-lock.ts) before any host starts. When one
 * cannot be had, that host's report says why and every other host's that it was not started.
 */
export async function lockAll(runs: HostRun[], app: string, stateDir: string, timeoutSeconds: number, log: Log): Promise<HeldLock | undefined> {
  try {
    return await takeRolloutLocks(runs, app, stateDir, timeoutSeconds, log);
  } catch (error) {
    const blocked = error instanceof LockError ? (error.host as HostRun) : undefined;
    for (const run of runs) {
      if (run === blocked || !blocked) run.report.error = (error as Error).message;
      else markNotStarted(run.report, `the rollout lock of ${blocked.label} could not be taken`);
    }
    return undefined;
  }
}

/** Runs the server script on one host and keeps its result (or what failed) in `report`. */
export async function runScriptOn(run: HostRun, runs: readonly HostRun[], input: ScriptInput, report: RunReport, log: Log, healthy?: () => Promise<boolean>): Promise<void> {
  const started = Date.now();
  try {
    report.remote = await runRemoteScript(run.session as SshSession, { ...input, serverImageId: report.transfer?.serverImageId ?? input.serverImageId }, hostLog(log, runs, run), healthy);
  } catch (error) {
    recordFailure(report, error);
  } finally {
    report.phasesSeconds.script = (Date.now() - started) / 1000;
  }
}

/** What the hosts not reached are told when the rollout stops early. */
function markUnreached(runs: readonly HostRun[], reached: readonly HostRun[], why: string): void {
  for (const run of runs) {
    if (!reached.includes(run)) markNotStarted(run.report, why);
  }
}

/**
 * A rolling rollout: a batch of hosts at a time, the next only when every host of the one before
 * ran the command to its end without failing. At the first failure, or when the run is cancelled,
 * the rollout stops: hosts not yet reached are left as they were, and the hosts that switched to the
 * new version are switched back to the slot they kept (command rollback), so no host is left on
 * another version than the others. Each deploy waits for the runner's word once healthy (as all at
 * once does), and gets it only while the run is not cancelled: a host in the middle of its health
 * check when the cancel comes never switches.
 */
export async function rollOut(runs: HostRun[], input: ScriptInput, maxParallel: number, cancellation: Cancellation, log: Log): Promise<void> {
  const done: HostRun[] = [];
  const mayGoOn = () => Promise.resolve(cancellation.reason === undefined);
  for (const batch of batchesOf(runs, maxParallel)) {
    if (cancellation.reason !== undefined) {
      markUnreached(runs, done, `the run was cancelled (${cancellation.reason})`);
      break;
    }
    await Promise.all(batch.map((run) => runScriptOn(run, runs, input, run.report, log, mayGoOn)));
    done.push(...batch);
    const failed = batch.filter((run) => outcomeOf(run.report) === 'failed');
    if (failed.length === 0) continue;
    markUnreached(runs, done, cancellation.reason !== undefined ? `the run was cancelled (${cancellation.reason})` : `the rollout stopped when ${failed.map((r) => r.label).join(', ')} failed`);
    break;
  }
  const complete = done.length === runs.length && done.every((run) => outcomeOf(run.report) !== 'failed');
  if (!complete && input.command === 'deploy') await switchBack(done.filter((run) => outcomeOf(run.report) === 'switched'), runs, input, log);
}

async function switchBack(switched: HostRun[], runs: readonly HostRun[], input: ScriptInput, log: Log): Promise<void> {
  await Promise.all(
    switched.map(async (run) => {
      log(`[${run.label}] switching back to the version it ran before, as the rollout did not complete`);
      run.switchBack = { ...run.report, command: 'rollback', remote: undefined, transfer: undefined, error: undefined, phasesSeconds: {}, totalSeconds: 0 };
      await runScriptOn(run, runs, { ...input, command: 'rollback', image: '', imageId: '', serverImageId: '' }, run.switchBack, log);
    }),
  );
}

/**
 * All at once: every host starts and health-checks the new version at the same time, and each waits,
 * healthy, until all are; then all switch at the same moment. A host that fails before that calls
 * the rollout off: the others stop their new version and keep the old one, so nothing switched
 * anywhere. A switch that fails after the word was given is undone on the hosts that switched.
 */
export async function rollOutAllAtOnce(runs: HostRun[], input: ScriptInput, cancellation: Cancellation, log: Log): Promise<void> {
  let calledOff = false;
  let notYetHealthy = runs.length;
  const waiting: Array<(go: boolean) => void> = [];
  const answerAll = (go: boolean) => {
    for (const resolve of waiting.splice(0)) resolve(go);
  };
  cancellation.onCancel((reason) => {
    if (!calledOff) log(`the run was cancelled (${reason}): calling the rollout off`);
    calledOff = true;
    answerAll(false);
  });
  const oneMoreReady = () => {
    notYetHealthy--;
    if (notYetHealthy === 0 && !calledOff) {
      log(`every host is healthy: switching all ${runs.length}`);
      answerAll(true);
    }
  };
  await Promise.all(
    runs.map(async (run) => {
      let reached = false;
      const healthy = () =>
        new Promise<boolean>((resolve) => {
          reached = true;
          if (calledOff) return resolve(false);
          waiting.push(resolve);
          oneMoreReady();
        });
      await runScriptOn(run, runs, input, run.report, log, healthy);
      if (reached) return;
      // Done without waiting: it failed (call the rollout off), or it had nothing to switch.
      if (outcomeOf(run.report) === 'failed') {
        if (!calledOff) log(`${run.label} failed before the switch: calling the rollout off`);
        calledOff = true;
        answerAll(false);
      } else {
        oneMoreReady();
      }
    }),
  );
  if (input.command === 'deploy' && runs.some((run) => outcomeOf(run.report) === 'failed')) {
    await switchBack(runs.filter((run) => outcomeOf(run.report) === 'switched'), runs, input, log);
  }
}
