import { ImageStore, type LocalImage, MissingImageError, buildImage, shouldBuild } from '../image/local';
import type { Config } from '../inputs/config';
import type { RunContext } from '../inputs/context';
import { portOfImage } from '../inputs/settings';
import type { ScriptInput } from '../remote/script';
import type { Cancellation } from './cancel';
import { type HostRun, type Log, hostLog } from './host';
import { type HeldLock, LockError, takeRolloutLocks } from './lock';
import { type Plan, connectedOf, targetsOf } from './plan';
import { pruneAll } from './prune';
import { allAtOnce, rolling } from './strategies';

/** How the rollout shows its work: lines, and groups of them (the runner's log groups). */
export interface RolloutLog {
  log: Log;
  group<T>(title: string, work: () => Promise<T>): Promise<T>;
}

/**
 * The one way a run goes, for one host or many and for every engine: the image built or found,
 * every host the command needs connected, the image sent to each (only what it lacks) while the app's
 * rollout lock is taken on every target, then the server script run on the targets (one batch at a
 * time, or all at once). A stage that fails on any host stops the run before the next: the hosts
 * it did not reach are reported "not started", and nothing changed anywhere.
 */
export async function rollOut(plan: Plan, config: Config, context: RunContext, runs: HostRun[], cancellation: Cancellation, out: RolloutLog): Promise<void> {
  const connected = connectedOf(plan, runs, config.command);
  const targets = targetsOf(plan, runs);
  const store = new ImageStore();
  let image: LocalImage | undefined;
  if (plan.sendsImage) {
    try {
      image = await localImage(config, runs[0], store, out);
    } catch (error) {
      for (const run of runs) run.failed(error);
      return;
    }
    for (const run of connected) run.sends(image);
  }
  try {
    if (!(await out.group(`Connect to ${where(connected)}`, () => connectAll(connected, out.log)))) return;
    const app = config.deploy.app;
    // The lock is asked for while the image travels (it changes nothing, and a held lock is waited
    // for meanwhile); its lines wait for its own group, after the send's.
    const lockLog = new HeldLines();
    const locking = plan.locks ? lockAll(targets, config, lockLog.log) : undefined;
    if (image && !(await sendImage(plan, connected, store, image, out))) {
      // Not waited for: closing the sessions (below) ends a lock command still waiting, or held.
      void locking?.then((lock) => ('release' in lock ? lock.release() : undefined));
      return;
    }
    const lock = locking && (await out.group(`Lock ${app} on ${where(targets)}`, () => lockLog.replayInto(out.log, locking)));
    if (lock && !('release' in lock)) {
      lock.report();
      return;
    }
    const input = scriptInput(plan, config, context, image);
    try {
      if (config.prune) {
        await pruneAll(targets, config, input, (title, work) => out.group(title, work), out.log);
        return;
      }
      if (plan.release && cancellation.reason === undefined) {
        const first = targets[0];
        const released = await out.group(`Release ${app} on ${first.label} (release-command, once, before any host switches)`, () =>
          releaseOn(first, targets, { ...input, command: 'release', oneOff: config.release, barrierSeconds: 0 }, out.log),
        );
        if (!released) return;
      }
      if (cancellation.reason !== undefined) {
        for (const run of targets) run.notStarted(`the run was cancelled (${cancellation.reason})`);
      } else if (plan.strategy === 'all-at-once') {
        await out.group(`${config.command} ${app} on ${where(targets)} at once`, () => allAtOnce(targets, input, cancellation, out.log));
      } else {
        const pace = targets.length > 1 ? `, ${plan.maxParallel} at a time` : '';
        await out.group(`${config.command} ${app} on ${where(targets)}${pace}`, () => rolling(targets, input, plan.maxParallel, cancellation, out.log));
      }
    } finally {
      await lock?.release();
    }
  } finally {
    for (const run of runs) run.close();
  }
}

/** The image to every host that needs it, with the engine's steps around the send; false stops the run. */
async function sendImage(plan: Plan, connected: HostRun[], store: ImageStore, image: LocalImage, out: RolloutLog): Promise<boolean> {
  const { engine } = plan;
  if (!(await engine.beforeSend(connected, out.log))) return false;
  if (!(await out.group(`Send ${image.reference} to ${where(connected)}`, () => sendToAll(connected, store, image, out.log)))) {
    engine.sendFailed(connected);
    return false;
  }
  return engine.afterSend(connected, image, store, out.log);
}

/** Lines kept until their group opens, then passed on as they come. */
class HeldLines {
  private held: string[] = [];
  private out?: Log;
  readonly log: Log = (line) => (this.out ? this.out(line) : this.held.push(line));

  async replayInto<T>(out: Log, work: Promise<T>): Promise<T> {
    for (const line of this.held.splice(0)) out(line);
    this.out = out;
    return work;
  }
}

/** One host by its label, several by their number. */
function where(runs: readonly HostRun[]): string {
  return runs.length === 1 ? runs[0].label : `${runs.length} hosts`;
}

/** The image built (when asked) and inspected; its EXPOSEd port fills in container-port. */
async function localImage(config: Config, first: HostRun, store: ImageStore, out: RolloutLog): Promise<LocalImage> {
  if (shouldBuild(config.build)) {
    await first.timed('build', () => out.group(`Build ${config.image}`, () => buildImage(config.build, config.image)));
  }
  const image = await store.inspect(config.image);
  if (!image) throw new MissingImageError(config.image, config.build);
  out.log(`image ${image.reference}: ${image.id} (${image.layers.length} layers)`);
  const { containerPort, env, note } = portOfImage(config.deploy, config.given, image.exposedPorts);
  Object.assign(config.deploy, { containerPort, env });
  out.log(note);
  return image;
}

/** What the server script is given; each host's serverImageId comes from its own transfer. */
function scriptInput(plan: Plan, config: Config, context: RunContext, image: LocalImage | undefined): ScriptInput {
  return {
    command: config.command,
    locks: plan.locks,
    barrierSeconds: plan.barrierSeconds,
    deploy: config.deploy,
    image: config.image,
    imageId: image?.id ?? '',
    serverImageId: '',
    gitSha: context.gitSha,
    runUrl: context.runUrl,
    given: config.given,
    allowMissing: config.allowMissing,
    logsLines: config.logsLines,
    oneOff: config.oneOff,
    rollbackTo: config.rollbackTo,
    force: config.force,
    maintenancePage: config.maintenancePage,
    canary: config.canary,
    bake: config.bake,
  };
}

/**
 * Connects to every host at once. If any cannot be reached, every session is closed again and each
 * unreachable host's report gets the error: the run changes nothing anywhere.
 */
async function connectAll(runs: HostRun[], log: Log): Promise<boolean> {
  const reached = await Promise.all(runs.map((run) => run.connect(hostLog(log, runs, run))));
  if (reached.every(Boolean)) return true;
  const unreachable = runs.filter((run) => run.hasFailed).map((run) => run.label);
  for (const run of runs) {
    run.close();
    if (!run.hasFailed) run.notStarted(`${unreachable.join(', ')} could not be reached`);
  }
  return false;
}

/** Sends the image to every host at once, each only what it lacks. False when any transfer failed. */
async function sendToAll(runs: HostRun[], store: ImageStore, image: LocalImage, log: Log): Promise<boolean> {
  const sent = await Promise.all(runs.map((run) => run.send(store, image, hostLog(log, runs, run))));
  if (sent.every(Boolean)) return true;
  const failed = runs.filter((run) => run.hasFailed).map((run) => run.label);
  for (const run of runs) {
    if (!run.hasFailed) run.notStarted(`the image did not reach ${failed.join(', ')}`);
  }
  return false;
}

/**
 * Takes the app's rollout lock on every target (rollout/lock.ts) before any starts. When one cannot
 * be had, its `report()` says why in that host's report and that every other was not started.
 */
async function lockAll(runs: HostRun[], config: Config, log: Log): Promise<HeldLock | { report: () => void }> {
  const { app, stateDir, lockTimeoutSeconds } = config.deploy;
  try {
    return await takeRolloutLocks(runs, app, stateDir, lockTimeoutSeconds, log);
  } catch (error) {
    const blocked = error instanceof LockError ? error.host : undefined;
    return {
      report: () => {
        for (const run of runs) {
          if (run === blocked || !blocked) run.failed(error);
          else run.notStarted(`the rollout lock of ${blocked.label} could not be taken`);
        }
      },
    };
  }
}

/**
 * The release phase: the release command once, on the first target, under the locks, before any
 * host starts the new version. False when it failed (its report says why; no host was started).
 */
async function releaseOn(first: HostRun, targets: readonly HostRun[], input: ScriptInput, log: Log): Promise<boolean> {
  if (await first.runRelease(input, hostLog(log, targets, first))) return true;
  for (const run of targets) if (run !== first) run.notStarted(`the release command failed on ${first.label}`);
  return false;
}
