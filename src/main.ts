import * as core from '@actions/core';
import { Config, InputError, readConfig } from './config';
import { ImageStore, LocalImage, buildImage, shouldBuild } from './image';
import { runRemoteScript } from './remote/run';
import { RemoteResult, SCRIPT_EXIT } from './remote/result';
import { RunReport, appUrl, liveAfterFailure, redact, renderSummary, stepOutputs } from './report';
import { SshSession } from './ssh';
import { withCommandsStopped } from './stop-commands';
import { TransferError, ensureImageOnServer } from './transfer';

/** Exit code of a run whose new version failed its health check (the live version kept serving). */
export const EXIT_UNHEALTHY = SCRIPT_EXIT.unhealthy;

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
  if (!image) {
    throw new Error(
      `image ${config.image} is not on the runner` +
        (config.build.mode === 'never' ? ': build it in an earlier step, or set build: true' : ` and no Dockerfile was found in ${config.build.context}: set context or dockerfile, or build it in an earlier step`),
    );
  }
  core.info(`image ${image.reference}: ${image.id} (${image.layers.length} layers)`);
  return image;
}

function applyRemote(report: RunReport, result: RemoteResult): void {
  report.outcome = result.outcome;
  report.previousSlot = result.previousSlot;
  report.activeSlot = result.activeSlot;
  report.health = result.health;
  report.logTail = result.logTail;
  report.live = result.live;
  report.history = result.history;
  report.imageId ??= result.imageId ?? undefined;
  if (result.error) report.error = result.error;
  if (result.failedPhase) report.failedPhase = result.failedPhase;
  for (const [phase, ms] of Object.entries(result.phasesMs)) report.phasesSeconds[phase] = (report.phasesSeconds[phase] ?? 0) + ms / 1000;
}

async function deployWith(config: Config, report: RunReport): Promise<number> {
  const store = new ImageStore();
  const image = config.command === 'deploy' ? await localImage(config, report, store) : undefined;
  if (image) report.imageId = image.id;

  const ssh = await timed(report, 'connect', `Connect to ${config.ssh.user}@${config.ssh.host}:${config.ssh.port}`, () =>
    SshSession.connect(config.ssh, (line) => core.info(line)),
  );
  try {
    if (image) {
      report.transfer = await timed(report, 'transfer', `Send ${image.reference} to ${config.ssh.host}`, () =>
        ensureImageOnServer(ssh, store, image, { log: (line) => core.info(line) }).catch((error: unknown) => {
          // What went over the wire is reported also when the transfer fails.
          if (error instanceof TransferError) report.bytesSent = error.bytesSent;
          throw error;
        }),
      );
    }
    const repo = process.env.GITHUB_REPOSITORY;
    const runUrl = repo && process.env.GITHUB_RUN_ID ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${repo}/actions/runs/${process.env.GITHUB_RUN_ID}` : '';
    report.resultLost = true; // until the script's result is in
    const result = await serverGroup(`${config.command} ${config.deploy.app} on ${config.ssh.host}`, () =>
      runRemoteScript(
        ssh,
        { command: config.command, deploy: config.deploy, image: config.image, imageId: image?.id ?? '', serverImageId: report.transfer?.serverImageId ?? '', gitSha: process.env.GITHUB_SHA ?? '', runUrl },
        (line) => core.info(line),
      ),
    );
    report.resultLost = false;
    applyRemote(report, result);
    if (result.outcome === 'failed') {
      throw Object.assign(new Error(result.error ?? 'the deploy script failed'), { exitCode: result.exitCode === SCRIPT_EXIT.unhealthy ? EXIT_UNHEALTHY : 1 });
    }
    return 0;
  } finally {
    ssh.close();
  }
}

function writeResults(report: RunReport, secrets: string[]): Promise<unknown> {
  for (const [name, value] of Object.entries(stepOutputs(report))) core.setOutput(name, value);
  if (!process.env.GITHUB_STEP_SUMMARY) return Promise.resolve();
  return core.summary.addRaw(renderSummary(report, secrets), true).write();
}

/** The whole run: inputs, image, transfer, switch, report. Never throws; sets the exit code. */
export async function run(): Promise<void> {
  const started = Date.now();
  maskSecrets([core.getInput('ssh-key'), core.getInput('ssh-key-passphrase')]);
  let config: Config;
  try {
    config = readConfig((name) => core.getInput(name), { repository: process.env.GITHUB_REPOSITORY });
  } catch (error) {
    core.setFailed(error instanceof InputError ? error.message : `Invalid inputs: ${(error as Error).message}`);
    return;
  }
  maskSecrets(config.secrets);
  if (config.ssh.hostKey.kind === 'insecure') {
    core.warning(`insecure-skip-host-key-check is true: the host key of ${config.ssh.host} is not checked, so a man-in-the-middle could receive the image and the env. Pin it with known-hosts (ssh-keyscan -p ${config.ssh.port} ${config.ssh.host}) or host-fingerprint.`);
  }

  const report: RunReport = {
    command: config.command,
    app: config.deploy.app,
    host: config.ssh.host,
    image: config.image,
    url: appUrl(config.deploy, config.ssh.host),
    outcome: 'failed',
    health: [],
    history: [],
    phasesSeconds: {},
    totalSeconds: 0,
  };
  let exitCode = 0;
  try {
    exitCode = await deployWith(config, report);
  } catch (error) {
    report.outcome = 'failed';
    report.error ??= (error as Error).message;
    exitCode = (error as { exitCode?: number }).exitCode ?? 1;
  }
  report.totalSeconds = (Date.now() - started) / 1000;
  try {
    await writeResults(report, config.secrets);
  } catch (error) {
    core.warning(`could not write the job summary: ${(error as Error).message}`);
  }
  if (exitCode !== 0) {
    const live = report.activeSlot ? `${report.activeSlot.toUpperCase()} is still live` : liveAfterFailure(report);
    core.setFailed(redact(`${config.deploy.app} on ${config.ssh.host}: ${report.error} (${live})`, config.secrets));
    process.exitCode = exitCode;
  } else {
    core.info(`${config.deploy.app}: ${report.outcome}; live slot ${report.activeSlot ?? 'none'}; ${report.url}`);
  }
}
