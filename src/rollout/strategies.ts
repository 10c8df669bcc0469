import type { ScriptInput } from '../remote/script';
import { outcomeOf } from '../report/report';
import type { Cancellation } from './cancel';
import { type HostRun, type Log, hostLog } from './host';

/** Batches of at most `size` hosts, in the order given: a rolling rollout takes one after the other. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

/** A rolling rollout's batches; with a canary the first host goes alone (its canary decides whether the rest follow). */
export function rollingBatches<T>(items: readonly T[], size: number, canary: boolean): T[][] {
  return canary && items.length > 1 ? [[items[0]], ...batchesOf(items.slice(1), size)] : batchesOf(items, size);
}

/** rollout: canary tries the new version on the first host's traffic only; the others deploy as rolling. */
export function inputForHost(input: ScriptInput, first: boolean): ScriptInput {
  return first || input.canary === undefined ? input : { ...input, canary: undefined };
}

/** What the hosts not reached are told when the rollout stops early. */
function markUnreached(runs: readonly HostRun[], reached: readonly HostRun[], why: string): void {
  for (const run of runs) {
    if (!reached.includes(run)) run.notStarted(why);
  }
}

const switched = (runs: readonly HostRun[]) => runs.filter((run) => outcomeOf(run.report) === 'switched');

/** The hosts that switched to the new version go back to the slot they kept (command rollback). */
async function switchBack(hosts: readonly HostRun[], runs: readonly HostRun[], input: ScriptInput, log: Log): Promise<void> {
  await Promise.all(
    hosts.map(async (run) => {
      log(`[${run.label}] switching back to the version it ran before, as the rollout did not complete`);
      await run.switchBackTo(input, hostLog(log, runs, run));
    }),
  );
}

/**
 * A rolling rollout (one host is a rollout of one): a batch of hosts at a time, the next only when
 * every host of the one before ran the command to its end without failing. At the first failure, or
 * when the run is cancelled, the rollout stops: hosts not yet reached are left as they were, and the
 * hosts that switched to the new version are switched back to the slot they kept (command
 * rollback), so no host is left on another version than the others. With several hosts each deploy
 * waits for the runner's word once healthy, and gets it only while the run is not cancelled: a host
 * in the middle of its health check when the cancel comes never switches.
 */
export async function rolling(runs: HostRun[], input: ScriptInput, maxParallel: number, cancellation: Cancellation, log: Log): Promise<void> {
  const done: HostRun[] = [];
  const mayGoOn = () => Promise.resolve(cancellation.reason === undefined);
  for (const batch of rollingBatches(runs, maxParallel, input.canary !== undefined)) {
    if (cancellation.reason !== undefined) {
      markUnreached(runs, done, `the run was cancelled (${cancellation.reason})`);
      break;
    }
    await Promise.all(batch.map((run) => run.runScript(inputForHost(input, run === runs[0]), hostLog(log, runs, run), mayGoOn)));
    done.push(...batch);
    const failed = batch.filter((run) => outcomeOf(run.report) === 'failed');
    if (failed.length === 0) continue;
    markUnreached(runs, done, cancellation.reason !== undefined ? `the run was cancelled (${cancellation.reason})` : `the rollout stopped when ${failed.map((r) => r.label).join(', ')} failed`);
    break;
  }
  const complete = done.length === runs.length && done.every((run) => outcomeOf(run.report) !== 'failed');
  if (!complete && input.command === 'deploy') await switchBack(switched(done), runs, input, log);
}

/**
 * All at once: every host starts and health-checks the new version at the same time, and each waits,
 * healthy, until all are; then all switch at the same moment. A host that fails before that calls
 * the rollout off: the others stop their new version and keep the old one, so nothing switched
 * anywhere. A switch that fails after the word was given is undone on the hosts that switched.
 */
export async function allAtOnce(runs: HostRun[], input: ScriptInput, cancellation: Cancellation, log: Log): Promise<void> {
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
      await run.runScript(input, hostLog(log, runs, run), healthy);
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
    await switchBack(switched(runs), runs, input, log);
  }
}
