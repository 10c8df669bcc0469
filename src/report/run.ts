import { type HostOutcome, fleetExitCode, fleetHeadline, renderFleetSummary } from './fleet';
import { errorOf, exitCodeOf, liveAfterFailure, outcomeOf, renderSummary, urlOf } from './report';

/**
 * The ending of every run, whatever its shape: the hosts whose reports are the run's (one host, the
 * Swarm's manager, or several hosts) as job summary, exit code and closing line (the step outputs
 * are fleetOutputs for every shape). One
 * host gets its own summary; several, a row each and their summaries folded.
 */
export function runSummary(hosts: readonly HostOutcome[], secrets: readonly string[], totalSeconds: number, cancelled?: string): string {
  return hosts.length === 1 ? renderSummary(hosts[0].report, secrets) : renderFleetSummary(hosts, secrets, totalSeconds, cancelled);
}

export function runExitCode(hosts: readonly HostOutcome[]): number {
  return hosts.length === 1 ? exitCodeOf(hosts[0].report) : fleetExitCode(hosts);
}

/** The run's last line: why it failed (the step's error), or what is live now. */
export function runVerdict(hosts: readonly HostOutcome[], app: string, cancelled?: string): string {
  const ok = runExitCode(hosts) === 0;
  if (hosts.length > 1) return fleetHeadline(hosts, ok ? undefined : cancelled).replace(/^❌ /, '');
  const { report } = hosts[0];
  if (ok) return `${app}: ${outcomeOf(report)}; live slot ${report.remote?.activeSlot ?? 'none'}; ${urlOf(report)}`;
  const live = report.remote?.activeSlot ? `${report.remote.activeSlot.toUpperCase()} is still live` : liveAfterFailure(report);
  return `${app} on ${report.host}: ${errorOf(report) ?? 'the deploy script failed'} (${live})`;
}
