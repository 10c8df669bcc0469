export const RESULT_BEGIN = '::bluegreen-result-begin::';
export const RESULT_END = '::bluegreen-result-end::';
/** The shape's version: the server script (lib.sh, render_result) writes it, parseRemoteResult accepts only this one. */
export const RESULT_VERSION = 2;

/** What a run did. */
export const OUTCOMES = ['switched', 'unchanged', 'removed', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The server script's exit codes, also the result's exitCode. */
export const SCRIPT_EXIT = {
  unexpected: 1,
  serverUnusable: 2, // no docker, lock timeout, bad state, a name that is not ours
  unhealthy: 3, // the new version failed its health check
  switchUndone: 4, // nginx refused the switch, or the proxy did not answer healthy after it; undone
  nothingToRollBack: 5,
  calledOff: 6, // all at once: another host failed before the switch, so this one did not switch
  notDeployed: 7, // status of an app the server has never seen (without allow-missing)
  releaseFailed: 8, // the release command failed or ran past its time: nothing switched
  commandFailed: 9, // command run: run-command failed (the job exits with the command's own code)
} as const;

/**
 * All at once (several hosts): the line the script prints when its new version is healthy; it then
 * waits for the runner's answer on its standard input, BARRIER_GO to switch, anything else to stop.
 */
export const BARRIER_LINE = '::bluegreen-healthy::';
export const BARRIER_GO = 'switch';

/** The prefix of the labels on the containers the script creates (bluegreen.app, .slot, …). */
export const LABEL_PREFIX = 'bluegreen';

export interface HealthTry {
  try: number;
  ms: number; // since the health check began
  status: number | null;
  error: string | null;
  latencyMs: number;
  /** health-command: its exit code (status is then null). */
  exitCode?: number | null;
}

export interface LiveInfo {
  container: string;
  running: boolean;
  imageId: string;
  image: string;
  gitSha: string;
  runUrl: string;
  deployedAt: string;
}

export interface HistoryEntry {
  time: string;
  command: string;
  outcome: string;
  image: string | null;
  imageId: string | null;
  from: string | null;
  to: string | null;
  gitSha: string | null;
  runUrl: string | null;
  error: string | null;
}

/** A one-off container's account (the release phase, command run). */
export interface OneOffResult {
  ran: boolean;
  /** Why it did not run (an unchanged deploy), or null. */
  skipped: string | null;
  exitCode: number | null;
  timedOut: boolean;
  seconds: number;
  /** stdout and stderr as they came: the last 256 KiB. */
  output: string;
  /** release: it made the version live before it unhealthy (rolling back across it needs force). */
  brokeLive?: boolean;
}

/** A version still on the server, as status and a refused rollback-to list them. */
export interface VersionInfo {
  imageId: string;
  image: string | null;
  gitSha: string | null;
  runUrl: string | null;
  time: string | null;
  live: boolean;
}

/** A worker container of the live version (workers). */
export interface WorkerInfo {
  container: string;
  worker: string;
  running: boolean;
  restarts: number;
  image: string;
  imageId: string;
}

/** The requests one slot answered in a deploy's window, as the proxy counted them. */
export interface SlotTraffic {
  requests: number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number; // answered by the app
  proxyErrors: number; // 502/504 the proxy answered (no upstream header)
  aborted: number; // the client gave up (499)
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  firstMs: number;
  lastMs: number;
}

/** The deploy's receipt: every request of the window (the new version's start to the old one's drain), per slot. */
export interface Traffic {
  fromMs: number;
  toMs: number;
  slots: Record<string, SlotTraffic>;
  requests: number;
  failed: number; // the app's 5xx and the proxy's 502/504
  aborted: number;
  partial?: true; // the proxy's log space was full: some requests were not logged
  healthyMs?: number; // when the new version answered healthy
  switchedMs?: number; // when the proxy's reload that sent it every request was done
}

/** rollout: canary or bake-seconds: what the new slot's trial on real traffic saw, and what it decided. */
export interface Trial {
  kind: 'canary' | 'bake';
  decision: 'promoted' | 'reverted' | 'passed';
  reason: string;
  percent: number; // the share of clients the new slot had (a bake: 100)
  ms: number; // how long it was watched
  candidate: { slot: string; requests: number; failed: number; p95Ms: number };
  live: { slot: string; requests: number; p95Ms: number };
}

/** engine compose: a container of the project (every service: the slots', the workers', the accessories'). */
export interface ServiceInfo {
  service: string;
  container: string;
  state: string; // running, exited, created, …
  image: string;
}

/** What the server-side script reports, typed. */
export interface RemoteResult {
  command: string;
  app: string;
  outcome: Outcome;
  exitCode: number;
  error: string | null;
  failedPhase: string | null;
  previousSlot: string | null;
  activeSlot: string | null;
  candidate: string | null;
  imageId: string | null;
  health: HealthTry[];
  phasesMs: Record<string, number>;
  totalMs: number;
  logTail: string | null;
  live: LiveInfo | null;
  history: HistoryEntry[];
  /** With TLS (and with status): the app's live certificate (leaf PEM) and the renewer's last word on it. */
  certificate?: { pem: string; renewal: string | null } | null;
  /** What the run routed by; recorded: loaded from the settings the deploy recorded (rollback, status, remove). */
  settings?: { hostnames: string[]; tls: string; containerPort: number; recorded: boolean; web?: boolean; canonicalHost?: string; pathPrefix?: string } | null;
  /** command logs: the live version's last lines. */
  logs?: string | null;
  /** What was still open on the old version when it stopped (null: nothing). */
  drain?: string | null;
  /** command release (a deploy's release phase): what the release command did. */
  release?: OneOffResult | null;
  /** command run: what run-command did. */
  run?: OneOffResult | null;
  /** status, and a rollback-to that named no version: the versions still on the server, newest first. */
  versions?: VersionInfo[] | null;
  /** The live version's workers (engines docker and compose). */
  workers?: WorkerInfo[];
  /** engine compose: every container of the project, by service. */
  services?: ServiceInfo[];
  /** deploy: the receipt of the window's requests, per slot (null: the deploy opened no window, or it could not be read). */
  traffic?: Traffic | null;
  /** rollout: canary and bake-seconds, in the order they ran. */
  trials?: Trial[];
  /** The proxy answers the app's requests with the maintenance page (command maintenance, until live). */
  maintenance?: boolean;
}

/** The script ran, but no usable result came back: what it did on the server is unknown. */
export class ResultError extends Error {}

/**
 * Finds the JSON result between the marker lines of the script's output and checks its version and
 * shape. Markers count only as whole lines: an app's log inside the result (its text is escaped
 * onto the one JSON line) can never be taken for one.
 */
export function parseRemoteResult(stdout: string): RemoteResult {
  const lines = stdout.split('\n');
  const begin = lines.lastIndexOf(RESULT_BEGIN);
  const end = begin < 0 ? -1 : lines.indexOf(RESULT_END, begin + 1);
  if (begin < 0 || end < 0) {
    throw new ResultError('the server-side script ended without reporting a result (was it killed, or did the connection drop?)');
  }
  const text = lines
    .slice(begin + 1, end)
    .join('\n')
    .trim();
  let value: RemoteResult & { version?: unknown };
  try {
    value = JSON.parse(text) as RemoteResult;
  } catch (error) {
    throw new ResultError(`the server-side script reported a result that is not JSON: ${(error as Error).message}`);
  }
  if (value.version !== RESULT_VERSION) {
    throw new ResultError(`the server-side script reported a result of version ${String(value.version)}, expected ${RESULT_VERSION}`);
  }
  if (!OUTCOMES.includes(value.outcome) || !Array.isArray(value.health)) {
    throw new ResultError('the server-side script reported a result of an unknown shape');
  }
  if (value.live) value.live.container = value.live.container.replace(/^\//, '');
  for (const worker of value.workers ?? []) worker.container = worker.container.replace(/^\//, '');
  return value;
}
