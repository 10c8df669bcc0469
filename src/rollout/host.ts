import type { ImageStore, LocalImage } from '../image/local';
import { TransferError, type TransferResult, ensureImageOnServer } from '../image/transfer';
import type { Config } from '../inputs/config';
import { hostLabel } from '../inputs/hosts';
import { ResultError } from '../remote/result';
import { runRemoteScript } from '../remote/run';
import type { ScriptInput } from '../remote/script';
import type { HostOutcome } from '../report/fleet';
import type { PruneReport } from '../prune/apps';
import { type RunReport, appUrl } from '../report/report';
import { type SshConfig, SshSession } from '../ssh/session';

export type Log = (line: string) => void;

/**
 * One host of a run, and the only code that writes its report: connected, sent the image, its
 * server script run (and, when a rollout does not complete, switched back), or never started.
 */
export class HostRun implements HostOutcome {
  readonly label: string;
  session?: SshSession;
  /** The rollback that put it back on its previous version, when the rollout did not complete. */
  switchBack?: RunReport;

  constructor(
    readonly ssh: SshConfig,
    readonly report: RunReport,
  ) {
    this.label = hostLabel(ssh);
  }

  get hasFailed(): boolean {
    return this.report.error !== undefined;
  }

  /** Its run never starts: its status, and the error its report shows. */
  notStarted(reason: string): void {
    this.report.notStarted = reason;
    this.report.error = `not started: ${reason}`;
  }

  /** What a failure on the runner's side means for its report. */
  failed(error: unknown, bytesSent?: number): void {
    failInto(this.report, error);
    if (bytesSent !== undefined) this.report.bytesSent = bytesSent;
  }

  /** A runner's phase (build, connect, transfer) timed into its report. */
  async timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await work();
    } finally {
      this.report.phasesSeconds[phase] = (this.report.phasesSeconds[phase] ?? 0) + (Date.now() - started) / 1000;
    }
  }

  /** The image a deploy sends (its config digest), known before any host is reached. */
  sends(image: LocalImage): void {
    this.report.imageId = image.id;
  }

  async connect(log: Log): Promise<boolean> {
    try {
      this.session = await this.timed('connect', () => SshSession.connect(this.ssh, log));
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /** Only what the server lacks goes; false when the transfer failed. */
  async send(store: ImageStore, image: LocalImage, log: Log): Promise<boolean> {
    try {
      this.report.transfer = await this.timed('transfer', () => ensureImageOnServer(this.connected, store, image, { log }));
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /** engine compose: an accessory's image, only what the server lacks; its figures go into the report apart. */
  async sendAccessory(store: ImageStore, image: LocalImage, log: Log): Promise<boolean> {
    try {
      const transfer = await this.timed('transfer', () => ensureImageOnServer(this.connected, store, image, { log }));
      (this.report.accessoryTransfers ??= []).push({ reference: image.reference, skipped: transfer.skipped, bytesSent: transfer.bytesSent });
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /** Transfers to several hosts told as one (engine swarm: the manager's report carries every node's). */
  tookTransfer(transfer: TransferResult): void {
    this.report.transfer = transfer;
  }

  /** The server script, its result (or what failed) kept in the report. */
  async runScript(input: ScriptInput, log: Log, healthy?: () => Promise<boolean>): Promise<void> {
    await this.runInto(this.report, input, log, healthy);
  }

  /**
   * A deploy's release phase (command release): what it did goes into the report; when it failed,
   * its result is the host's (nothing was started). True when the deploy may go on.
   */
  async runRelease(input: ScriptInput, log: Log): Promise<boolean> {
    const phase: RunReport = { ...this.report, remote: undefined, phasesSeconds: {} };
    await this.runInto(phase, input, log);
    this.report.release = phase.remote?.release ?? undefined;
    this.report.phasesSeconds.release = phase.scriptSeconds ?? 0;
    if (phase.error === undefined && phase.remote && phase.remote.outcome !== 'failed') return true;
    Object.assign(this.report, { remote: phase.remote, error: phase.error, resultLost: phase.resultLost, scriptSeconds: phase.scriptSeconds });
    return false;
  }

  /** A deploy undone: the rollback to the slot it kept, reported apart as its switch back. */
  async switchBackTo(input: ScriptInput, log: Log): Promise<void> {
    this.switchBack = { ...this.report, command: 'rollback', remote: undefined, transfer: undefined, error: undefined, phasesSeconds: {}, scriptSeconds: undefined, totalSeconds: 0 };
    await this.runInto(this.switchBack, { ...input, command: 'rollback', image: '', imageId: '', serverImageId: '' }, log);
  }

  /** command prune: what it did with each app under the prefix; a removal that failed fails the host. */
  pruned(prune: PruneReport): void {
    this.report.prune = prune;
    const failed = prune.apps.filter((a) => a.action === 'failed');
    if (failed.length) this.report.error = `could not remove ${failed.map((a) => `${a.app} (${a.error})`).join('; ')}`;
  }

  finish(totalSeconds: number): void {
    this.report.totalSeconds = totalSeconds;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private get connected(): SshSession {
    if (!this.session) throw new Error(`${this.label} is not connected`);
    return this.session;
  }

  private async runInto(report: RunReport, input: ScriptInput, log: Log, healthy?: () => Promise<boolean>): Promise<void> {
    const started = Date.now();
    try {
      report.remote = await runRemoteScript(this.connected, { ...input, serverImageId: report.transfer?.serverImageId ?? input.serverImageId }, log, healthy);
    } catch (error) {
      failInto(report, error);
    } finally {
      report.scriptSeconds = (Date.now() - started) / 1000;
    }
  }
}

function failInto(report: RunReport, error: unknown): void {
  report.error = error instanceof Error ? error.message : String(error);
  // What went over the wire is reported also when the transfer fails.
  if (error instanceof TransferError) report.bytesSent = error.bytesSent;
  // The script ran, but its answer never came: the server may have switched or not.
  if (error instanceof ResultError) report.resultLost = true;
}

/** A run's hosts, in the order given, each with an empty report. */
export function hostRunsOf(config: Pick<Config, 'command' | 'image' | 'hosts' | 'deploy' | 'prune'>): HostRun[] {
  return config.hosts.map(
    (ssh) =>
      new HostRun(ssh, {
        command: config.command,
        app: config.prune ? `${config.prune.prefix}*` : config.deploy.app,
        host: ssh.host,
        image: config.image,
        url: appUrl(config.deploy, ssh.host),
        phasesSeconds: {},
        totalSeconds: 0,
      }),
  );
}

/** Prefixes a host's lines when several hosts run at once; one host's lines stay as they were. */
export function hostLog(log: Log, runs: readonly HostRun[], run: HostRun): Log {
  return runs.length === 1 ? log : (line) => log(`[${run.label}] ${line}`);
}
