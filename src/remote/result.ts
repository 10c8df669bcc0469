export const RESULT_BEGIN = '::bluegreen-result-begin::';
export const RESULT_END = '::bluegreen-result-end::';

export type Outcome = 'switched' | 'unchanged' | 'removed' | 'failed';

export interface HealthTry {
  try: number;
  ms: number; // since the health check began
  status: number | null;
  error: string | null;
  latencyMs: number;
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
}

export class ResultError extends Error {}

/** Finds the JSON result between the markers in the script's output and checks its shape. */
export function parseRemoteResult(stdout: string): RemoteResult {
  const begin = stdout.lastIndexOf(RESULT_BEGIN);
  const end = stdout.indexOf(RESULT_END, begin);
  if (begin < 0 || end < 0) {
    throw new ResultError('the server-side script ended without reporting a result (was it killed, or did the connection drop?)');
  }
  const text = stdout.slice(begin + RESULT_BEGIN.length, end).trim();
  let value: RemoteResult;
  try {
    value = JSON.parse(text) as RemoteResult;
  } catch (error) {
    throw new ResultError(`the server-side script reported a result that is not JSON: ${(error as Error).message}`);
  }
  if (!['switched', 'unchanged', 'removed', 'failed'].includes(value.outcome) || !Array.isArray(value.health)) {
    throw new ResultError('the server-side script reported a result of an unknown shape');
  }
  if (value.live) value.live.container = value.live.container.replace(/^\//, '');
  return value;
}
