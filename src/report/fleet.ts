// The summary and outputs of a run on several hosts: one row per host, the overall result first.
import { formatBytes, formatSeconds } from '../format';
import { type Outcome, SCRIPT_EXIT } from '../remote/result';
import { type RunReport, cell, errorOf, healthAnswer, exitCodeOf, finalSummary, outcomeOf, renderSummary, slotName, stepOutputs } from './report';

/** A host's run as the report reads it (rollout/host.ts's HostRun adds where it is and its session). */
export interface HostOutcome {
  label: string; // user@host[:port], as logs and the summary name it
  report: RunReport;
  /** The rollback run on this host after the rollout did not complete (it had switched to the new version). */
  switchBack?: RunReport;
}

const notStarted = (h: HostOutcome) => h.report.notStarted !== undefined;
/** Healthy, but told not to switch: another host failed first (all at once), or the run was cancelled. */
const calledOff = (h: HostOutcome) => h.report.remote?.exitCode === SCRIPT_EXIT.calledOff;
/** Its script still running (a summary written while a cancelled run winds down). */
const underWay = (h: HostOutcome) => h.report.remote === undefined && h.report.error === undefined;
/** Failed of its own accord (not merely stopped because of another host). */
const failedHere = (h: HostOutcome) => outcomeOf(h.report) === 'failed' && !notStarted(h) && !calledOff(h) && !underWay(h);
const switchedBack = (h: HostOutcome) => h.switchBack !== undefined && outcomeOf(h.switchBack) === 'switched';
/** A switch back still running (a summary written while a cancelled run winds down). */
const switchingBack = (h: HostOutcome) => h.switchBack !== undefined && h.switchBack.remote === undefined && h.switchBack.error === undefined;
/** On the new version after the run: switched, and not (successfully) switched back. */
const onNewVersion = (h: HostOutcome) => outcomeOf(h.report) === 'switched' && !switchedBack(h) && !switchingBack(h);

/** The run's outcome over all hosts: failed if any host failed; else what they all did. */
export function fleetOutcome(hosts: readonly HostOutcome[]): Outcome {
  const outcomes = hosts.map((h) => outcomeOf(h.report));
  if (outcomes.includes('failed')) return 'failed';
  if (outcomes.every((o) => o === 'unchanged')) return 'unchanged';
  if (outcomes.every((o) => o === 'removed')) return 'removed';
  // command prune: removed on some host, nothing to remove on another.
  if (hosts.some((h) => h.report.prune)) return outcomes.includes('removed') ? 'removed' : 'unchanged';
  return 'switched';
}

export function fleetExitCode(hosts: readonly HostOutcome[]): number {
  const failed = hosts.find(failedHere);
  return failed ? exitCodeOf(failed.report) : hosts.some((h) => outcomeOf(h.report) === 'failed') ? 1 : 0;
}

const names = (hosts: readonly HostOutcome[]) => hosts.map((h) => h.label).join(', ');

/** The first line: the overall result, and on failure which hosts run which version. */
export function fleetHeadline(hosts: readonly HostOutcome[], cancelled?: string): string {
  const app = hosts[0].report.app;
  const command = hosts[0].report.command;
  const outcome = fleetOutcome(hosts);
  if (outcome !== 'failed') {
    const unchanged = command === 'status' ? 'status of' : command === 'prune' ? 'nothing to remove on' : 'already ran this version on';
    const verb = { switched: command === 'rollback' ? 'rolled back' : 'switched', unchanged, removed: command === 'prune' ? 'pruned on' : 'removed from' }[outcome];
    return `${outcome === 'removed' ? '🗑️' : command === 'status' ? 'ℹ️' : '✅'} ${app}: ${verb} ${outcome === 'switched' ? 'on ' : ''}${hosts.length} hosts`;
  }
  const failed = hosts.filter(failedHere);
  const parts =
    cancelled !== undefined ? [`❌ ${app}: ${command} cancelled (${cancelled})${failed.length ? `; failed on ${names(failed)}` : ''}`] : [`❌ ${app}: ${command} failed on ${names(failed)}`];
  const off = hosts.filter(calledOff);
  if (off.length) parts.push(`called off, not switched: ${names(off)}`);
  const back = hosts.filter(switchedBack);
  if (back.length) parts.push(`switched back: ${names(back)}`);
  const going = hosts.filter(switchingBack);
  if (going.length) parts.push(`switching back: ${names(going)}`);
  const running = hosts.filter(underWay);
  if (running.length) parts.push(`under way: ${names(running)}`);
  const untouched = hosts.filter(notStarted);
  if (untouched.length) parts.push(`not started: ${names(untouched)}`);
  const mixed = hosts.filter(onNewVersion);
  if (mixed.length) parts.push(`⚠️ ${command === 'rollback' ? 'rolled back only on' : 'still on the new version'}: ${names(mixed)}`);
  return parts.join('; ');
}

function resultText(h: HostOutcome): string {
  if (notStarted(h)) return 'not started';
  if (underWay(h)) return 'under way';
  if (calledOff(h)) return 'healthy, called off: not switched';
  const outcome = outcomeOf(h.report);
  if (switchingBack(h)) return 'switched; switching back';
  if (h.switchBack) return switchedBack(h) ? 'switched, then switched back' : `switched; switching back failed: ${errorOf(h.switchBack) ?? ''}`;
  if (outcome === 'failed') return `failed${h.report.remote?.failedPhase ? ` (${h.report.remote.failedPhase})` : ''}: ${errorOf(h.report) ?? ''}`;
  return outcome;
}

function slotsText(h: HostOutcome): string {
  const remote = h.switchBack?.remote ?? h.report.remote;
  if (!remote) return '';
  if (h.report.command === 'status') return `${slotName(remote.activeSlot)} live`;
  return `${slotName(h.report.remote?.previousSlot)} → ${slotName(h.report.remote?.activeSlot)}${h.switchBack ? ` → ${slotName(h.switchBack.remote?.activeSlot)}` : ''}`;
}

function healthText(r: RunReport): string {
  const tries = r.remote?.health ?? [];
  if (tries.length === 0) return '';
  const last = tries[tries.length - 1];
  return `${tries.length} ${tries.length === 1 ? 'try' : 'tries'}, last ${healthAnswer(last)}`;
}

/** A host's time as the runner saw it: its phases and its script. */
function runnerSeconds(report: RunReport): number {
  return Object.values(report.phasesSeconds).reduce((a, b) => a + b, 0) + (report.scriptSeconds ?? 0);
}

/** The job summary: the headline, a row per host, then each host's own summary folded. */
export function renderFleetSummary(hosts: readonly HostOutcome[], secrets: readonly string[] = [], totalSeconds = 0, cancelled?: string): string {
  const parts = [`## ${cell(fleetHeadline(hosts, cancelled))}`, ''];
  parts.push('| host | result | slots | sent | health | time |', '| --- | --- | --- | ---: | --- | ---: |');
  for (const h of hosts) {
    const t = h.report.transfer;
    const sent = t ? (t.skipped ? 'already there' : formatBytes(t.bytesSent)) : h.report.bytesSent ? formatBytes(h.report.bytesSent) : '';
    const seconds = runnerSeconds(h.report) + (h.switchBack ? runnerSeconds(h.switchBack) : 0);
    parts.push(`| ${cell(h.label)} | ${cell(resultText(h))} | ${cell(slotsText(h))} | ${sent} | ${cell(healthText(h.report))} | ${formatSeconds(seconds)} |`);
  }
  parts.push('', `Total: ${formatSeconds(totalSeconds)}`, '');
  for (const h of hosts) {
    if (notStarted(h)) continue;
    // A host switched back after another failed: its deploy, then what serves there now.
    const back = h.switchBack ? ['', renderSummary(h.switchBack, secrets).replace(/^## /, '### Then, as the rollout did not complete: ')] : [];
    parts.push(`<details><summary>${cell(h.label)}</summary>`, '', renderSummary(h.report, secrets).replace(/^## /, '### '), ...back, '</details>', '');
  }
  return finalSummary(parts.join('\n'), secrets);
}

/** The failed requests of every host that counted its deploy's traffic ('' when none did). */
function failedRequests(hosts: readonly HostOutcome[]): string {
  const counted = hosts.map((h) => h.report.remote?.traffic).filter((t) => t !== undefined && t !== null);
  return counted.length ? String(counted.reduce((sum, t) => sum + t.failed, 0)) : '';
}

/** The step outputs: `result` is the overall one, the others are the first host's, `hosts` has each host's. */
function prunedNames(hosts: readonly HostOutcome[], action: 'removed' | 'kept'): string {
  const names = hosts.flatMap((h) => (h.report.prune?.apps ?? []).filter((a) => a.action === action).map((a) => a.app));
  return JSON.stringify([...new Set(names)].sort());
}

export function fleetOutputs(hosts: readonly HostOutcome[], totalSeconds: number): Record<string, string> {
  // The first host's outputs, but what serves there now: after a switch back, the version it went back to.
  const deployedFirst = stepOutputs(hosts[0].report);
  const back = hosts[0].switchBack ? stepOutputs(hosts[0].switchBack) : undefined;
  const first = back ? { ...deployedFirst, 'active-slot': back['active-slot'], 'image-id': back['image-id'] } : deployedFirst;
  const perHost = hosts.map((h) => {
    const deployed = stepOutputs(h.report);
    const now = h.switchBack ? stepOutputs(h.switchBack) : deployed;
    return {
      host: h.label,
      result: notStarted(h)
        ? 'not-started'
        : calledOff(h)
          ? 'called-off'
          : underWay(h)
            ? 'under-way'
            : switchingBack(h)
              ? 'switching-back'
              : h.switchBack
                ? switchedBack(h)
                  ? 'switched-back'
                  : 'failed'
                : now.result,
      activeSlot: now['active-slot'],
      previousSlot: deployed['previous-slot'],
      bytesSent: Number(deployed['bytes-sent']),
      error: errorOf(h.report) ?? null,
    };
  });
  return {
    ...first,
    result: fleetOutcome(hosts),
    'bytes-sent': String(perHost.reduce((sum, h) => sum + h.bytesSent, 0)),
    // Every host's receipt counted (traffic stays the first host's; each host's is in its summary).
    'failed-requests': failedRequests(hosts),
    // command prune: every host's apps, each name once.
    ...(hosts.some((h) => h.report.prune) ? { pruned: prunedNames(hosts, 'removed'), kept: prunedNames(hosts, 'kept') } : {}),
    'duration-seconds': totalSeconds.toFixed(1),
    hosts: JSON.stringify(perHost),
  };
}
