import * as core from './workflow-commands';
import type { RunContext } from './inputs/context';
import { type HostOutcome, fleetOutputs } from './report/fleet';
import { redact, refusedOutputs, renderRefusedSummary } from './report/report';
import { runExitCode, runSummary, runVerdict } from './report/run';

/** The step outputs, every value redacted; failing to write them only warns. */
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
    core.writeSummary(context.summaryFile, markdown());
  } catch (error) {
    core.warning(`could not write the job summary: ${(error as Error).message}`);
  }
}

export interface Ending {
  context: RunContext;
  app: string;
  secrets: readonly string[];
}

/** What the hosts ran, as outputs and summary: at the end, or earlier after a cancel (then rewritten). */
export async function publishRun(end: Ending, hosts: readonly HostOutcome[], totalSeconds: number, cancelled?: string): Promise<void> {
  setOutputs(fleetOutputs(hosts, totalSeconds), end.secrets);
  await writeSummary(end.context, () => runSummary(hosts, end.secrets, totalSeconds, cancelled));
}

/** The end of every run: outputs, summary, exit code and its last line. */
export async function finishRun(end: Ending, hosts: readonly HostOutcome[], totalSeconds: number, cancelled?: string): Promise<void> {
  await publishRun(end, hosts, totalSeconds, cancelled);
  const exitCode = runExitCode(hosts);
  const verdict = runVerdict(hosts, end.app, cancelled);
  if (exitCode === 0) {
    core.info(verdict);
    return;
  }
  core.setFailed(redact(verdict, end.secrets));
  process.exitCode = exitCode;
}

/** A run refused before it connected (a bad input): result failed, a short summary, exit code 1. */
export async function refuseRun(context: RunContext, message: string, totalSeconds: number): Promise<void> {
  setOutputs(refusedOutputs(totalSeconds), []);
  await writeSummary(context, () => renderRefusedSummary(message));
  core.setFailed(message);
}
