import type { Command, DeployConfig } from '../inputs/config';
import { formatBytes, formatSeconds } from '../format';
import { type HealthTry, type OneOffResult, type Outcome, type RemoteResult, SCRIPT_EXIT, type ServiceInfo, type Traffic, type Trial, type VersionInfo, type WorkerInfo } from '../remote/result';
import { type CertificateFacts, certificateFacts } from '../inputs/tls';
import type { TransferResult } from '../image/transfer';
import { shortId } from '../format';
import type { PruneReport } from '../prune/apps';

/**
 * Everything a person or a later step needs to know about one run: what the runner did, and the
 * server script's own report, kept whole (the views below read it; nothing is copied out of it).
 */
export interface RunReport {
  command: Command;
  app: string;
  host: string;
  image: string;
  imageId?: string; // the config digest the runner sent (deploy); other commands learn it from the server
  url?: string;
  transfer?: TransferResult;
  bytesSent?: number; // on the wire before a transfer failed (a finished one reports in `transfer`)
  /** engine compose: the accessory images the runner had, each sent only where the server lacked it. */
  accessoryTransfers?: { reference: string; skipped: boolean; bytesSent: number }[];
  /** The server script's result, once it arrived. */
  remote?: RemoteResult;
  /** command prune: what it did with each app under the prefix (each removal ran the server script). */
  prune?: PruneReport;
  /** deploy with release-command: what the release phase did (it ran before the rollout, on the first host). */
  release?: OneOffResult;
  /** What failed on the runner's side: inputs, build, connection, transfer, or the result lost. */
  error?: string;
  /** Why this host's run never started (another host could not be reached, the run was cancelled, …). */
  notStarted?: string;
  /** The deploy script ran but its result never arrived (a cut connection): what is live is unknown. */
  resultLost?: boolean;
  phasesSeconds: Record<string, number>; // the runner's phases; the server's come with `remote`
  /** How long the server script ran, as the runner saw it (its own phases are in `remote`). */
  scriptSeconds?: number;
  totalSeconds: number;
}

/** The run's outcome: the server's, unless the runner failed first. */
export function outcomeOf(report: RunReport): Outcome {
  if (report.prune && report.error === undefined) return report.prune.apps.some((a) => a.action === 'removed') ? 'removed' : 'unchanged';
  return report.error !== undefined || !report.remote ? 'failed' : report.remote.outcome;
}

export function errorOf(report: RunReport): string | undefined {
  return report.error ?? report.remote?.error ?? undefined;
}

/**
 * The job's exit code: 0; EXIT_UNHEALTHY when the new version failed its health check;
 * EXIT_RELEASE_FAILED when the release command failed; command run: the command's own; else 1.
 */
export function exitCodeOf(report: RunReport): number {
  if (outcomeOf(report) !== 'failed') return 0;
  const code = report.error === undefined ? report.remote?.exitCode : undefined;
  if (code === SCRIPT_EXIT.unhealthy || code === SCRIPT_EXIT.releaseFailed) return code;
  if (code === SCRIPT_EXIT.commandFailed) {
    const own = report.remote?.run?.exitCode ?? 1;
    return own > 0 && own < 256 ? own : 1;
  }
  return 1;
}

/** Every phase, the runner's and the server's, in seconds. */
function phasesOf(report: RunReport): Record<string, number> {
  const phases = { ...report.phasesSeconds };
  for (const [phase, ms] of Object.entries(report.remote?.phasesMs ?? {})) phases[phase] = (phases[phase] ?? 0) + ms / 1000;
  return phases;
}

export interface CertificateReport extends CertificateFacts {
  renewal: string | null; // the renewer's last word: "ok|error TIME MESSAGE"
}

/** The certificate the proxy serves for the app, as the server reported it. */
export function certificateOf(report: RunReport): CertificateReport | undefined {
  const given = report.remote?.certificate;
  const facts = given ? certificateFacts(given.pem) : undefined;
  return facts && given ? { ...facts, renewal: given.renewal } : undefined;
}

function certificateText(cert: CertificateReport): string {
  const warn = cert.daysLeft < 14 || cert.renewal?.startsWith('error') ? '⚠️ ' : '';
  const renewal = cert.renewal ? ` · last renewal: ${cert.renewal}` : '';
  return `${warn}${cert.hosts.join(', ')}: ${cert.issuer}, expires ${cert.notAfter.slice(0, 10)} (${cert.daysLeft} days left)${renewal}`;
}

/** Exit code of a run whose new version failed its health check (the live version kept serving). */
export const EXIT_UNHEALTHY = SCRIPT_EXIT.unhealthy;
/** Exit code of a deploy whose release command failed (nothing switched). */
export const EXIT_RELEASE_FAILED = SCRIPT_EXIT.releaseFailed;

export const SUMMARY_LIMIT = 512 * 1024; // GitHub refuses summaries over 1 MiB; stay well under it

/** The summary's Markdown, secrets redacted, cut to SUMMARY_LIMIT (saying so) when longer. */
export function finalSummary(markdown: string, secrets: readonly string[]): string {
  const text = redact(markdown, secrets);
  return text.length > SUMMARY_LIMIT ? text.slice(0, SUMMARY_LIMIT) + "\n\n_(summary cut to stay under GitHub's size limit)_\n" : text;
}
const HEALTH_ROWS_OPEN = 10;
const HEALTH_ROWS_MAX = 300;

/** The address of the app through the proxy: its first host name, else the first published port. */
export function appUrl(deploy: DeployConfig, sshHost: string): string {
  if (!deploy.web) return ''; // workers only: nothing is served
  const name = deploy.canonicalHost || deploy.hostnames[0];
  const path = pathOf(deploy.pathPrefix);
  if (name) return hostUrl(name, deploy.tls.mode) + path;
  const spec = deploy.proxyPorts[0].replace(/\/(tcp|udp)$/, '');
  const parts = spec.startsWith('[') ? [spec.slice(0, spec.indexOf(']') + 1), ...spec.slice(spec.indexOf(']') + 2).split(':')] : spec.split(':');
  const [address, hostPort] = parts.length === 3 ? [parts[0], parts[1]] : [sshHost, parts[0]];
  const host = address === '0.0.0.0' || address === '[::]' ? sshHost : address;
  // An IPv6 address goes in brackets in a URL (http://[::1]:8080/).
  const inUrl = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${inUrl}${hostPort === '80' ? '' : `:${hostPort}`}/${path}`;
}

function hostUrl(name: string, tls: string): string {
  return `${tls === 'off' ? 'http' : 'https'}://${name.replace(/^\*\./, '')}/`;
}

/** A URL's path after its first '/' for path-prefix: '' for /, 'api/' for /api. */
const pathOf = (prefix = '/'): string => (prefix === '/' ? '' : `${prefix.slice(1)}/`);

/** The app's address as the server routed it: a rollback's comes from the settings the deploy recorded. */
export function urlOf(report: RunReport): string {
  const used = report.remote?.settings;
  if (used?.web === false) return '';
  const name = used?.canonicalHost || used?.hostnames[0];
  return used?.recorded && name ? hostUrl(name, used.tls) + pathOf(used.pathPrefix) : (report.url ?? '');
}

/** Replaces every secret value with ***, however it got into the text. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}

export function cell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * What a failed run left live, as far as is known: the server's answer (a slot, or none), or nothing
 * known when the script never ran (nothing changed there) or its result was lost.
 */
export function liveAfterFailure(report: RunReport): string {
  if (report.resultLost) return 'what is live is unknown (run command: status)';
  if (!report.remote) return 'nothing changed on the server';
  return report.remote.activeSlot ? `${slotName(report.remote.activeSlot)} still live` : 'nothing live';
}

export function slotName(slot: string | null | undefined): string {
  if (!slot) return 'none';
  // Swarm's "slots" are versions (short image IDs), shown as they are.
  return slot === 'blue' || slot === 'green' ? slot.toUpperCase() : slot;
}

export function headline(report: RunReport): string {
  const { app, remote } = report;
  if (report.command === 'prune') return pruneHeadline(report);
  const from = slotName(remote?.previousSlot);
  const to = slotName(remote?.activeSlot);
  switch (outcomeOf(report)) {
    case 'switched':
      return report.command === 'rollback' ? `✅ ${app}: rolled back ${from} → ${to}` : `✅ ${app}: switched ${from} → ${to}`;
    case 'unchanged':
      if (report.command === 'maintenance') return `🚧 ${app}: in maintenance: the proxy answers 503 with the page (${to} keeps running)`;
      if (report.command === 'live') return `✅ ${app}: live, routed to ${to}`;
      if (report.command === 'logs') return `ℹ️ ${app}: the last log lines of ${to}`;
      if (report.command === 'run') return `✅ ${app}: run-command exited with 0`;
      if (report.command === 'rollback') return `✅ ${app}: ${to} already runs that version`;
      return report.command === 'status' ? `ℹ️ ${app}: ${remote?.activeSlot ? `${to} is live` : 'not deployed'}` : `✅ ${app}: ${to} already runs this version`;
    case 'removed':
      return `🗑️ ${app}: removed`;
    case 'failed': {
      const still = liveAfterFailure(report);
      const phase = report.error === undefined ? remote?.failedPhase : undefined;
      if (phase === 'workers') return `❌ ${app}: a worker of ${report.image || 'the new version'} did not come up; ${still}`;
      if (phase === 'health') return `❌ ${app}: ${report.image || 'the new version'} failed its health check; ${still}`;
      if (remote?.exitCode === SCRIPT_EXIT.releaseFailed) return `❌ ${app}: the release command failed; nothing switched, ${still} (untouched)`;
      if (report.command === 'run' && remote?.run?.ran) return `❌ ${app}: run-command ${remote.run.timedOut ? 'ran past run-timeout' : `exited with ${remote.run.exitCode}`}`;
      return `❌ ${app}: ${report.command} failed${phase ? ` during ${phase}` : ''}; ${still}`;
    }
  }
}

function pruneHeadline(report: RunReport): string {
  const apps = report.prune?.apps ?? [];
  const named = (action: string) => apps.filter((a) => a.action === action).map((a) => a.app);
  const [removed, kept, failed] = [named('removed'), named('kept'), named('failed')];
  const list = (names: string[]) => (names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', '));
  const keptText = kept.length ? `; kept ${kept.length}` : '';
  if (failed.length) return `❌ prune ${report.app}: could not remove ${list(failed)}${removed.length ? `; removed ${list(removed)}` : ''}${keptText}`;
  if (!report.prune) return `❌ prune ${report.app}: failed; nothing was removed`;
  return removed.length ? `🗑️ prune ${report.app}: removed ${list(removed)}${keptText}` : `✅ prune ${report.app}: nothing to remove${keptText}`;
}

/** command prune: one row per app under the prefix. */
function pruneSection(prune: PruneReport): string {
  if (prune.apps.length === 0) return `### Apps under ${cell(prune.prefix)}\n\nNone on this server.`;
  const shown = { removed: '🗑️ removed', kept: 'kept', failed: '❌ not removed' };
  const rows = prune.apps.map(
    (a) =>
      `| ${cell(a.app)} | ${shown[a.action]} | ${a.lastDeployMs !== undefined ? new Date(a.lastDeployMs).toISOString().replace(/\.\d+Z$/, 'Z') : 'unknown'} | ${cell(a.error ? `${a.why}; ${a.error}` : a.why)} |`,
  );
  return [`### Apps under ${cell(prune.prefix)}`, '', '| app | | last deploy | why |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** One health try's answer as people read it: the HTTP status, health-command's exit code, or the error. */
export function healthAnswer(t: HealthTry): string {
  if (t.status !== null) return String(t.status);
  if (t.exitCode !== undefined && t.exitCode !== null) return `exit ${t.exitCode}${t.error ? `: ${t.error}` : ''}`;
  return t.error ?? 'error';
}

function healthTable(tries: HealthTry[]): string {
  const shown = tries.slice(-HEALTH_ROWS_MAX);
  const rows = shown.map((t) => `| ${t.try} | ${(t.ms / 1000).toFixed(1)}s | ${cell(healthAnswer(t))} | ${t.latencyMs} ms |`);
  const cut = tries.length > shown.length ? `\n_${tries.length - shown.length} earlier tries left out._\n` : '';
  const table = `| try | since start | answer | latency |\n| ---: | ---: | --- | ---: |\n${rows.join('\n')}\n${cut}`;
  if (tries.length <= HEALTH_ROWS_OPEN) return `### Health checks\n\n${table}`;
  return `### Health checks\n\n<details><summary>${tries.length} tries (click to open)</summary>\n\n${table}\n</details>\n`;
}

function phasesText(phases: Record<string, number>): string {
  return Object.entries(phases)
    .filter(([, seconds]) => seconds >= 0.05)
    .map(([name, seconds]) => `${name} ${formatSeconds(seconds)}`)
    .join(' · ');
}

/** The job summary as Markdown: a headline, the facts, the health log, and on failure the logs. */
export function renderSummary(given: RunReport, secrets: readonly string[] = []): string {
  // Secrets go before any escaping: an escaped secret (&amp; for &) would no longer match.
  const report = JSON.parse(JSON.stringify(given), (_key, value: unknown) => (typeof value === 'string' ? redact(value, secrets) : value)) as RunReport;
  const facts: Array<[string, string]> = [
    ['App', report.app],
    ['Server', report.host],
  ];
  const remote = report.remote;
  const imageId = report.imageId ?? remote?.imageId;
  if (report.image) facts.push(['Image', `\`${report.image}\`${imageId ? ` (${shortId(imageId)})` : ''}`]);
  if (report.command === 'prune') {
    // No slots: the apps it removed and kept are the table below.
  } else if (report.command === 'status' || report.command === 'logs') {
    facts.push(['Live slot', slotName(remote?.activeSlot)]);
  } else if (outcomeOf(report) === 'failed') {
    facts.push(['Slots', remote?.activeSlot ? `${slotName(remote.activeSlot)} still live, not switched` : liveAfterFailure(report)]);
  } else {
    facts.push(['Slots', `${slotName(remote?.previousSlot)} → ${slotName(remote?.activeSlot)}`]);
  }
  if (urlOf(report)) facts.push(['URL', urlOf(report)]);
  if (report.transfer) {
    const t = report.transfer;
    const sent = t.skipped
      ? 'already on server'
      : `${formatBytes(t.bytesSent)}${t.layersSkipped > 0 ? ` (${t.layersSkipped} of ${t.layersTotal} layers already on server)` : ''}` +
        (t.resentWhole ? ', sent whole again after an incomplete load' : '');
    facts.push(['Sent', sent]);
  } else if (report.bytesSent) {
    facts.push(['Sent', `${formatBytes(report.bytesSent)} before the transfer failed`]);
  }
  for (const sent of report.accessoryTransfers ?? []) facts.push([`Sent ${sent.reference}`, sent.skipped ? 'already on server' : formatBytes(sent.bytesSent)]);
  const live = remote?.live;
  if (live) {
    facts.push(['Live container', `${live.container} (${live.running ? 'running' : 'stopped'}), ${live.image} ${shortId(live.imageId)}`]);
    if (live.deployedAt) facts.push(['Deployed', `${live.deployedAt}${live.runUrl ? ` by ${live.runUrl}` : ''}`]);
  }
  const cert = certificateOf(report);
  if (cert) facts.push(['Certificate', certificateText(cert)]);
  if (remote?.maintenance) facts.push(['Maintenance', 'on: the proxy answers every request with 503 and the maintenance page; run command: live to bring the app back']);
  if (remote?.drain) facts.push(['Drain', remote.drain]);
  const phases = phasesText(phasesOf(report));
  if (phases) facts.push(['Phases', phases]);
  facts.push(['Total', formatSeconds(report.totalSeconds)]);

  const parts = [`## ${cell(headline(report))}`, ''];
  const error = errorOf(report);
  if (error) parts.push(`> **Error:** ${cell(error)}`, '');
  // GFM tables need a header row: the first fact is it.
  const rows = facts.map(([name, value]) => `| **${name}** | ${cell(value)} |`);
  parts.push(rows[0], '| :--- | :--- |', ...rows.slice(1), '');
  if (report.prune) parts.push(pruneSection(report.prune), '');
  if (remote && remote.health.length > 0) parts.push(healthTable(remote.health), '');
  if (remote?.logTail) {
    const tail = remote.logTail.split('\n').slice(-40).join('\n').replace(/```/g, "'''");
    parts.push('### Last log lines of the failed container', '', '```text', tail, '```', '');
  }
  if (remote?.logs) {
    parts.push('### Last log lines of the live container', '', '```text', remote.logs.replace(/```/g, "'''"), '```', '');
  }
  if (remote?.trials && remote.trials.length > 0) parts.push(trialsSection(remote.trials), '');
  if (remote?.traffic) parts.push(trafficSection(remote.traffic, remote.previousSlot, remote.activeSlot), '');
  if (remote?.workers && remote.workers.length > 0) parts.push(workersSection(remote.workers), '');
  if (remote?.services && remote.services.length > 0) parts.push(servicesSection(remote.services), '');
  if (report.release) parts.push(releaseSection(report.release), '');
  if (remote?.run) parts.push(oneOffSection('Output of run-command', remote.run, 400), '');
  if (remote?.versions && (report.command === 'status' || report.command === 'rollback')) parts.push(versionsSection(remote.versions), '');
  if (remote && remote.history.length > 0) {
    parts.push('### Recent runs', '', '| time | command | outcome | image | slots |', '| --- | --- | --- | --- | --- |');
    for (const h of [...remote.history].reverse()) {
      parts.push(`| ${cell(h.time)} | ${cell(h.command)} | ${cell(h.outcome)} | ${cell(h.image ?? '')} ${shortId(h.imageId)} | ${slotName(h.from)} → ${slotName(h.to)} |`);
    }
    parts.push('');
  }
  return finalSummary(parts.join('\n'), secrets);
}

const fenced = (text: string) => ['```text', text.replace(/```/g, "'''"), '```'].join('\n');

function oneOffSection(title: string, result: OneOffResult, lines: number): string {
  const all = result.output.replace(/\n$/, '').split('\n');
  const shown = all.slice(-lines).join('\n');
  const cut = all.length > lines ? `_The last ${lines} of ${all.length} lines:_\n\n` : '';
  return `### ${title}\n\n${cut}${result.output ? fenced(shown) : '_(no output)_'}`;
}

/** The release phase: what ran, how it ended, its last lines. */
function releaseSection(release: OneOffResult): string {
  if (!release.ran) return `### Release command\n\nSkipped: ${release.skipped ?? 'it did not run'}.`;
  const ending = release.timedOut ? `ran past release-timeout and was stopped after ${formatSeconds(release.seconds)}` : `exited with ${release.exitCode} after ${formatSeconds(release.seconds)}`;
  const broke = release.brokeLive
    ? '\n\n> ⚠️ The release made the version live before it unhealthy: the deploy went on to the new version, and rolling back past this release needs `force: true`.'
    : '';
  return `${oneOffSection('Release command', release, 40).replace('\n\n', `\n\nIt ${ending}.${broke}\n\n`)}`;
}

/** The live version's workers. */
function workersSection(workers: readonly WorkerInfo[]): string {
  const rows = workers.map(
    (w) => `| ${cell(w.worker)} | ${cell(w.container)} | ${w.running ? 'running' : 'stopped'}${w.restarts > 0 ? ` (restarted ${w.restarts}×)` : ''} | ${cell(w.image)} ${shortId(w.imageId)} |`,
  );
  return ['### Workers', '', '| worker | container | state | image |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The receipt: what the proxy answered per slot while the version went live. */
export function trafficSection(traffic: Traffic, from: string | null, to: string | null): string {
  const seconds = ((traffic.toMs - traffic.fromMs) / 1000).toFixed(1);
  if (traffic.requests === 0) return `### Traffic during the deploy\n\nNo request reached the app in the ${seconds} s from the new version's start to the end of the drain.`;
  const order = [from, to, ...Object.keys(traffic.slots)].filter((slot, i, all): slot is string => !!slot && all.indexOf(slot) === i && slot in traffic.slots);
  const rows = order.map((slot) => {
    const t = traffic.slots[slot];
    const at = (ms: number) => `+${((ms - traffic.fromMs) / 1000).toFixed(1)} s`;
    return `| ${slotName(slot)} | ${t.requests} | ${t['2xx']} / ${t['3xx']} / ${t['4xx']} | ${t['5xx']} | ${t.proxyErrors} | ${t.aborted} | ${t.p50Ms} / ${t.p95Ms} / ${t.p99Ms} ms | ${at(t.firstMs)} – ${at(t.lastMs)} |`;
  });
  const verdict = traffic.failed === 0 ? '**0 failed**' : `**${traffic.failed} failed**`;
  return [
    '### Traffic during the deploy',
    '',
    `${traffic.requests} requests in ${seconds} s (from the new version's start to the end of the drain), ${verdict}${traffic.aborted ? `, ${traffic.aborted} given up by their clients` : ''}.` +
      (traffic.partial ? " **Partial:** the proxy's receipt logs reached their size cap, so later requests were served but not counted." : ''),
    '',
    ...switchLine(traffic, to),
    '| slot | requests | 2xx / 3xx / 4xx | 5xx (app) | 502/504 (proxy) | client aborts | p50 / p95 / p99 | answered |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n');
}

/** When the new version was healthy, when the proxy sent it every request, and its first answer. */
function switchLine(traffic: Traffic, to: string | null): string[] {
  if (traffic.healthyMs === undefined || traffic.switchedMs === undefined) return [];
  const at = (ms: number) => `+${((ms - traffic.fromMs) / 1000).toFixed(1)} s`;
  const first = to ? traffic.slots[to]?.firstMs : undefined;
  return [
    `Healthy at ${at(traffic.healthyMs)}; the proxy sent it every request ${traffic.switchedMs - traffic.healthyMs} ms later (${at(traffic.switchedMs)})${first !== undefined ? `; its first answer at ${at(first)}` : ''}.`,
    '',
  ];
}

/** rollout: canary and bake-seconds: the numbers that decided. */
export function trialsSection(trials: readonly Trial[]): string {
  const rows = trials.map((t) => {
    const what = t.kind === 'canary' ? `canary, ${t.percent}% of the clients` : 'bake, all traffic';
    const verdict = t.decision === 'reverted' ? '❌ reverted' : t.decision === 'promoted' ? '✅ promoted' : '✅ passed';
    return `| ${what} | ${(t.ms / 1000).toFixed(1)} s | ${slotName(t.candidate.slot)}: ${t.candidate.requests} requests, ${t.candidate.failed} failed, p95 ${t.candidate.p95Ms} ms | ${slotName(t.live.slot)}: ${t.live.requests} requests, p95 ${t.live.p95Ms} ms | ${verdict}: ${cell(t.reason)} |`;
  });
  return ['### The new version on real traffic', '', '| trial | watched | new version | live version | decision |', '| --- | ---: | --- | --- | --- |', ...rows].join('\n');
}

/** engine compose: every container of the project, by service. */
function servicesSection(services: readonly ServiceInfo[]): string {
  const rows = services.map((s) => `| ${cell(s.service)} | ${cell(s.container)} | ${cell(s.state)} | ${cell(s.image)} |`);
  return ['### Compose services', '', '| service | container | state | image |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The versions still on the server that rollback-to can reach. */
function versionsSection(versions: readonly VersionInfo[]): string {
  if (versions.length === 0) return '### Versions on the server\n\nNone that rollback-to can reach.';
  const rows = versions.map(
    (v) => `| ${shortId(v.imageId)}${v.live ? ' (live)' : ''} | ${cell(v.image ?? '')} | ${cell(v.gitSha?.slice(0, 12) ?? '')} | ${cell(v.time ?? '')} | ${cell(v.runUrl ?? '')} |`,
  );
  return ['### Versions on the server (rollback-to)', '', '| image ID | image | commit | live at | run |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** The job summary of a run refused before it connected anywhere (a bad input): what to fix, and that nothing changed. */
export function renderRefusedSummary(message: string, secrets: readonly string[] = []): string {
  return redact(`## ❌ ${cell(message.split('\n')[0])}\n\nNothing was connected to or changed on any server: fix the input and run again.\n`, secrets);
}

/** The step outputs of a run refused before it connected anywhere: result failed, the rest empty. */
export function refusedOutputs(totalSeconds: number): Record<string, string> {
  const refused: RunReport = { command: 'deploy', app: '', host: '', image: '', error: 'refused', phasesSeconds: {}, totalSeconds };
  return { ...stepOutputs(refused), hosts: '[]' };
}

/** The step outputs, as documented in action.yml. */
export function stepOutputs(report: RunReport): Record<string, string> {
  const { remote } = report;
  return {
    result: outcomeOf(report),
    pruned: report.prune ? JSON.stringify(report.prune.apps.filter((a) => a.action === 'removed').map((a) => a.app)) : '',
    kept: report.prune ? JSON.stringify(report.prune.apps.filter((a) => a.action === 'kept').map((a) => a.app)) : '',
    'active-slot': remote?.activeSlot ?? '',
    'previous-slot': remote?.previousSlot ?? '',
    'image-id': report.imageId ?? remote?.imageId ?? remote?.live?.imageId ?? '',
    url: urlOf(report),
    'bytes-sent': String(report.transfer?.bytesSent ?? report.bytesSent ?? 0),
    'failed-requests': remote?.traffic ? String(remote.traffic.failed) : '',
    traffic: remote?.traffic ? JSON.stringify(remote.traffic) : '',
    trials: remote?.trials?.length ? JSON.stringify(remote.trials) : '',
    'duration-seconds': report.totalSeconds.toFixed(1),
    'health-log': JSON.stringify(remote?.health ?? []),
    history: JSON.stringify(remote?.history ?? []),
    logs: remote?.logs ?? '',
    'run-output': remote?.run?.output ?? '',
    release: report.release ? JSON.stringify(report.release) : '',
    versions: remote?.versions ? JSON.stringify(remote.versions) : '',
    maintenance: remote ? String(remote.maintenance === true) : '',
    certificate: (() => {
      const cert = certificateOf(report);
      return cert ? JSON.stringify(cert) : '';
    })(),
  };
}
