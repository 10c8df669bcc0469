// command prune on each target: the apps under the prefix listed (one read-only command), decided
// (prune/apps.ts), and each one to go removed exactly as command remove removes it: under its
// rollout lock, by the server script, with the settings its deploy recorded.
import type { Config, PruneRule } from '../inputs/config';
import { LIST_EXIT_NO_DOCKER, type PrunedApp, decidePrune, listAppsCommand, parseServerApps } from '../prune/apps';
import type { ScriptInput } from '../remote/script';
import { runRemoteScript } from '../remote/run';
import { type HostRun, type Log, hostLog } from './host';
import { takeRolloutLocks } from './lock';

/** One host after another (each prunes its own apps); a host that fails does not stop the next. */
export async function pruneAll(targets: readonly HostRun[], config: Config, input: ScriptInput, group: <T>(title: string, work: () => Promise<T>) => Promise<T>, log: Log): Promise<void> {
  const rule = config.prune!;
  for (const run of targets) {
    await group(`Prune ${rule.prefix}* on ${run.label}`, () => pruneHost(run, rule, config, input, hostLog(log, targets, run)));
  }
}

async function pruneHost(run: HostRun, rule: PruneRule, config: Config, input: ScriptInput, log: Log): Promise<void> {
  const { stateDir, lockTimeoutSeconds } = config.deploy;
  const session = run.session!;
  const listed = await session.exec(listAppsCommand(stateDir, rule.prefix));
  if (listed.code !== 0) {
    const why =
      listed.code === LIST_EXIT_NO_DOCKER ? listed.stderr.trim() || 'docker cannot be used by the SSH user' : `listing the apps failed (exit ${listed.code ?? 'none'}): ${listed.stderr.trim()}`;
    run.failed(new Error(`${why}; nothing was removed`));
    return;
  }
  const decisions = decidePrune(parseServerApps(listed.stdout, rule.prefix), rule, Date.now());
  if (decisions.length === 0) log(`no app under ${rule.prefix} on this server`);
  const apps: PrunedApp[] = [];
  for (const decision of decisions) {
    const { app, why, lastDeployMs } = decision;
    if (decision.action === 'keep') {
      log(`keeping ${app}: ${why}`);
      apps.push({ app, action: 'kept', why, lastDeployMs });
      continue;
    }
    log(`removing ${app}: ${why}`);
    const appLog: Log = (line) => log(`[${app}] ${line}`);
    let error: string | undefined;
    try {
      const lock = await takeRolloutLocks([run], app, stateDir, lockTimeoutSeconds, appLog);
      try {
        const remote = await runRemoteScript(session, { ...input, command: 'remove', deploy: { ...input.deploy, app }, given: [], locks: true }, appLog);
        if (remote.outcome === 'failed') error = remote.error ?? 'the remove script failed';
      } finally {
        await lock.release();
      }
    } catch (caught) {
      error = caught instanceof Error ? caught.message : String(caught);
    }
    if (error !== undefined) log(`could not remove ${app}: ${error}`);
    apps.push(error === undefined ? { app, action: 'removed', why, lastDeployMs } : { app, action: 'failed', why, lastDeployMs, error });
  }
  run.pruned({ prefix: rule.prefix, apps });
}
