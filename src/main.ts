import * as core from '@actions/core';
import { Config, InputError, readConfig, uncheckedHosts } from './config';
import { RunContext, runContext } from './context';
import { ImageStore, LocalImage, MissingImageError, buildImage, shouldBuild } from './image';
import { runRemoteScript } from './remote/run';
import type { ScriptInput } from './remote/script';
import { RunReport, appUrl, errorOf, exitCodeOf, liveAfterFailure, outcomeOf, redact, refusedOutputs, renderRefusedSummary, renderSummary, urlOf } from './report';
import { SshSession } from './ssh';
import { withCommandsStopped } from './stop-commands';
import { ensureImageOnServer } from './transfer';
import { type HostRun, connectAll, lockAll, markNotStarted, recordFailure, rollOut, rollOutAllAtOnce, sendToAll } from './fleet';
import { Cancellation, cancellableBy } from './cancel';
import { takeRolloutLocks } from './rollout-lock';
import { hostLabel } from './hosts';
import { runOnSwarm } from './swarm';
import { portOfImage } from './settings';
import { fleetExitCode, fleetHeadline, fleetOutputs, renderFleetSummary } from './fleet-report';

const masked = new Set<string>();
/** After a cancel, the summary and outputs are written by then even if hosts are still switching back. */
const PROVISIONAL_AFTER_CANCEL_MS = 6000;

/** Registers every secret with the runner before anything can print it. */
function maskSecrets(values: string[]): void {
  for (const value of values) {
    if (!value || masked.has(value.trim())) continue;
    masked.add(value.trim());
    core.setSecret(value);
    for (const line of value.split('\n')) if (line.trim().length >= 8 && !line.startsWith('-----')) core.setSecret(line.trim());
  }
}

/** A log group whose lines may carry the server's text: shown, never obeyed as workflow commands. */
function serverGroup<T>(title: string, work: () => Promise<T>): Promise<T> {
  return core.group(title, () => withCommandsStopped((line) => core.info(line), work));
}

async function timed<T>(report: RunReport, phase: string, title: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await serverGroup(title, work);
  } finally {
    report.phasesSeconds[phase] = (Date.now() - started) / 1000;
  }
}

async function localImage(config: Config, report: RunReport, store: ImageStore): Promise<LocalImage> {
  if (shouldBuild(config.build)) {
    await timed(report, 'build', `Build ${config.image}`, () => buildImage(config.build, config.image));
  }
  const image = await store.inspect(config.image);
  if (!image) throw new MissingImageError(config.image, config.build);
  core.info(`image ${image.reference}: ${image.id} (${image.layers.length} layers)`);
  const { containerPort, env, note } = portOfImage(config.deploy, config.given, image.exposedPorts);
  Object.assign(config.deploy, { containerPort, env });
  core.info(note);
  return image;
}

/** What the server script is given; serverImageId per host comes from its transfer (fleet.ts, swarm.ts). */
function scriptInput(config: Config, context: RunContext, image: LocalImage | undefined, serverImageId = ''): ScriptInput {
  return { command: config.command, deploy: config.deploy, image: config.image, imageId: image?.id ?? '', serverImageId, gitSha: context.gitSha, runUrl: context.runUrl, given: config.given, allowMissing: config.allowMissing, logsLines: config.logsLines };
}

/** Image, connection, transfer and the server script: fills in the report as it goes. */
async function deployWith(config: Config, context: RunContext, report: RunReport): Promise<void> {
  const store = new ImageStore();
  const image = config.command === 'deploy' ? await localImage(config, report, store) : undefined;
  if (image) report.imageId = image.id;

  const ssh = await timed(report, 'connect', `Connect to ${config.ssh.user}@${config.ssh.host}:${config.ssh.port}`, () =>
    SshSession.connect(config.ssh, (line) => core.info(line)),
  );
  try {
    if (image) {
      report.transfer = await timed(report, 'transfer', `Send ${image.reference} to ${config.ssh.host}`, () =>
        ensureImageOnServer(ssh, store, image, { log: (line) => core.info(line) }),
      );
    }
    const input = scriptInput(config, context, image, report.transfer?.serverImageId);
    const lock = changesApp(config) ? await takeRolloutLocks([{ ssh: config.ssh, label: hostLabel(config.ssh), session: ssh }], config.deploy.app, config.deploy.stateDir, config.deploy.lockTimeoutSeconds, (line) => core.info(line)) : undefined;
    try {
      report.remote = await serverGroup(`${config.command} ${config.deploy.app} on ${config.ssh.host}`, () => runRemoteScript(ssh, input, (line) => core.info(line)));
    } finally {
      await lock?.release();
    }
  } finally {
    ssh.close();
  }
}

/** engine: swarm: the image to every node given, the script on the manager (swarm.ts). */
async function deployToSwarm(config: Config, context: RunContext, report: RunReport): Promise<void> {
  const log = (line: string) => core.info(line);
  const store = new ImageStore();
  const image = config.command === 'deploy' ? await localImage(config, report, store) : undefined;
  if (image) report.imageId = image.id;
  const runs: HostRun[] = config.hosts.map((ssh, i) => ({ ssh, label: hostLabel(ssh), report: i === 0 ? report : { ...report, host: ssh.host, phasesSeconds: {} } }));
  const input = scriptInput(config, context, image);
  await serverGroup(`${config.command} ${config.deploy.app} on the Swarm of ${config.ssh.host}`, () => runOnSwarm(runs, store, image, input, log));
}

/** Commands that change what runs on a server take the app's rollout lock first (rollout-lock.ts). */
function changesApp(config: Config): boolean {
  return config.command === 'deploy' || config.command === 'rollback' || config.command === 'remove';
}

/**
 * The same command on several hosts: connect all, send to all, take every host's rollout lock, then
 * roll out (fleet.ts). A cancel (SIGINT/SIGTERM) stops starting hosts and switches back those that
 * switched.
 */
async function deployToFleet(config: Config, context: RunContext, runs: HostRun[], cancellation: Cancellation): Promise<void> {
  const log = (line: string) => core.info(line);
  const store = new ImageStore();
  let image: LocalImage | undefined;
  if (config.command === 'deploy') {
    try {
      image = await localImage(config, runs[0].report, store);
    } catch (error) {
      for (const run of runs) run.report.error = (error as Error).message;
      return;
    }
    for (const run of runs) run.report.imageId = image.id;
  }
  const everywhere = `${runs.length} hosts`;
  try {
    if (!(await serverGroup(`Connect to ${everywhere}`, () => connectAll(runs, log)))) return;
    if (image && !(await serverGroup(`Send ${image.reference} to ${everywhere}`, () => sendToAll(runs, store, image, log)))) return;
    // Each deploy waits, healthy, for the runner's word before it switches (all at once: until every
    // host is healthy; rolling: unless the run was cancelled meanwhile).
    const barrierSeconds = config.command === 'deploy' ? Math.ceil(config.deploy.health.timeoutSeconds) + 600 : 0;
    const input = { ...scriptInput(config, context, image), barrierSeconds };
    const lock = changesApp(config) ? await serverGroup(`Lock ${config.deploy.app} on ${everywhere}`, () => lockAll(runs, config.deploy.app, config.deploy.stateDir, config.deploy.lockTimeoutSeconds, log)) : undefined;
    if (changesApp(config) && !lock) return;
    try {
      if (cancellation.reason !== undefined) {
        for (const run of runs) markNotStarted(run.report, `the run was cancelled (${cancellation.reason})`);
      } else if (config.rollout === 'all-at-once' && config.command === 'deploy') {
        await serverGroup(`${config.command} ${config.deploy.app} on ${everywhere} at once`, () => rollOutAllAtOnce(runs, input, cancellation, log));
      } else {
        await serverGroup(`${config.command} ${config.deploy.app} on ${everywhere}, ${config.maxParallel} at a time`, () => rollOut(runs, input, config.maxParallel, cancellation, log));
      }
    } finally {
      await lock?.release();
    }
  } finally {
    for (const run of runs) run.session?.close();
  }
}

/** The step outputs, every value redacted. */
function setOutputs(outputs: Record<string, string>, secrets: readonly string[]): void {
  try {
    for (const [name, value] of Object.entries(outputs)) core.setOutput(name, redact(value, secrets));
  } catch (error) {
    core.warning(`could not write the step outputs: ${(error as Error).message}`);
  }
}

/** The job summary, when the runner gives a file for it; failing to write it only warns. */
async function writeSummary(context: RunContext, markdown: () => string): Promise<void> {
  if (!context.summaryFile) return;
  try {
    // The step's own summary file: a later write (after a provisional one) replaces it.
    await core.summary.emptyBuffer().addRaw(markdown(), true).write({ overwrite: true });
  } catch (error) {
    core.warning(`could not write the job summary: ${(error as Error).message}`);
  }
}

/** What several hosts ran, as outputs and summary: at the end, or earlier after a cancel (then rewritten). */
async function publishFleet(config: Config, context: RunContext, runs: HostRun[], totalSeconds: number, cancelled?: string): Promise<void> {
  setOutputs(fleetOutputs(runs, totalSeconds), config.secrets);
  await writeSummary(context, () => renderFleetSummary(runs, config.secrets, totalSeconds, cancelled));
}

/** The end of a run on several hosts: summary, outputs, exit code. */
async function finishFleet(config: Config, context: RunContext, runs: HostRun[], totalSeconds: number, cancelled?: string): Promise<void> {
  await publishFleet(config, context, runs, totalSeconds, cancelled);
  const exitCode = fleetExitCode(runs);
  if (exitCode !== 0) {
    core.setFailed(redact(fleetHeadline(runs, cancelled).replace(/^❌ /, ''), config.secrets));
    process.exitCode = exitCode;
  } else {
    core.info(fleetHeadline(runs));
  }
}

/** A run refused before it connected (a bad input): result failed, a short summary, exit code 1. */
async function refuse(message: string, context: RunContext, totalSeconds: number): Promise<void> {
  setOutputs(refusedOutputs(totalSeconds), []);
  await writeSummary(context, () => renderRefusedSummary(message));
  core.setFailed(message);
}

/** The whole run: inputs, image, transfer, switch, report. Never throws; sets the exit code. */
export async function run(): Promise<void> {
  const started = Date.now();
  const context = runContext(process.env);
  maskSecrets([core.getInput('ssh-key'), core.getInput('ssh-key-passphrase')]);
  let config: Config;
  try {
    config = readConfig((name) => core.getInput(name), { repository: context.repository });
  } catch (error) {
    const message = error instanceof InputError ? error.message : `Invalid inputs: ${(error as Error).message}`;
    await refuse(message, context, (Date.now() - started) / 1000);
    return;
  }
  maskSecrets(config.secrets);
  const unchecked = uncheckedHosts(config);
  if (unchecked.length > 0) {
    core.warning(`insecure-skip-host-key-check is true: the host key of ${unchecked.join(', ')} is not checked, so a man-in-the-middle could receive the image and the env. Pin it with known-hosts (ssh-keyscan -p ${config.ssh.port} ${config.ssh.host})${config.ssh.jump ? ', proxy-jump-known-hosts for the jump host,' : ''} or host-fingerprint.`);
  }

  const reportFor = (host: string): RunReport => ({
    command: config.command,
    app: config.deploy.app,
    host,
    image: config.image,
    url: appUrl(config.deploy, host),
    phasesSeconds: {},
    totalSeconds: 0,
  });
  if (config.hosts.length > 1 && !config.deploy.swarm) {
    const runs: HostRun[] = config.hosts.map((ssh) => ({ ssh, label: hostLabel(ssh), report: reportFor(ssh.host) }));
    const cancellation = new Cancellation();
    let finished = false;
    cancellation.onCancel((signal) => {
      core.warning(`${signal}: the run was cancelled; no further host starts, and hosts that switched are switched back`);
      // GitHub kills the step 10 s after its first signal: what is known by then is written down.
      setTimeout(() => {
        if (finished) return;
        const note = `${signal}; still under way when the runner's grace period ran short`;
        void publishFleet(config, context, runs, (Date.now() - started) / 1000, note);
      }, PROVISIONAL_AFTER_CANCEL_MS).unref();
    });
    await cancellableBy(cancellation, async () => {
      await deployToFleet(config, context, runs, cancellation);
      finished = true;
      const totalSeconds = (Date.now() - started) / 1000;
      for (const run of runs) run.report.totalSeconds = totalSeconds;
      await finishFleet(config, context, runs, totalSeconds, cancellation.reason);
    });
    return;
  }
  const report = reportFor(config.ssh.host);
  try {
    if (config.deploy.swarm) await deployToSwarm(config, context, report);
    else await deployWith(config, context, report);
  } catch (error) {
    recordFailure(report, error);
  }
  report.totalSeconds = (Date.now() - started) / 1000;
  // The same outputs as with several hosts: `hosts` then holds this one.
  setOutputs(fleetOutputs([{ label: hostLabel(config.ssh), report }], report.totalSeconds), config.secrets);
  await writeSummary(context, () => renderSummary(report, config.secrets));
  const exitCode = exitCodeOf(report);
  if (exitCode !== 0) {
    const live = report.remote?.activeSlot ? `${report.remote.activeSlot.toUpperCase()} is still live` : liveAfterFailure(report);
    core.setFailed(redact(`${config.deploy.app} on ${config.ssh.host}: ${errorOf(report) ?? 'the deploy script failed'} (${live})`, config.secrets));
    process.exitCode = exitCode;
  } else {
    core.info(`${config.deploy.app}: ${outcomeOf(report)}; live slot ${report.remote?.activeSlot ?? 'none'}; ${urlOf(report)}`);
  }
}
