// rollout: canary and bake-seconds: how a new version is tried on a share of real traffic, and
// watched after the full switch, judged from the proxy's own per-slot counts (issue 25).
import { InputError, type InputReader, duration, integer, oneOf } from './read';

/** Testers reach the new slot whatever the share: requests with this header (or cookie), or this value of it. */
export interface CanaryMatch {
  kind: 'header' | 'cookie';
  name: string;
  /** '' any non-empty value. */
  value: string;
}

/** What judges the new slot, during a canary and during a bake. */
export interface Judgement {
  /** The new slot's failed requests (5xx from it, 502/504 from the proxy for it) at most this share, in percent. */
  maxErrorPercent: number;
  /** Its p95 at most this many times the live slot's ('x'), or this many milliseconds ('ms'). */
  maxLatency: { ratio: number } | { ms: number };
  /** Fewer requests than this to the new slot cannot be judged. */
  minRequests: number;
}

export interface CanaryConfig extends Judgement {
  percent: number;
  seconds: number;
  onLowTraffic: 'promote' | 'revert';
  match?: CanaryMatch;
}

/** A p95 this much over the live slot's never reverts, whatever the ratio: a 2 ms app answering in 6 ms is fine. */
export const LATENCY_GRACE_MS = 50;

const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
const COOKIE_NAME = /^[A-Za-z0-9_]{1,64}$/;
const MATCH_VALUE = /^[A-Za-z0-9._~-]{1,100}$/;

/** canary-header: "X-Canary", "X-Canary: yes", "cookie: beta" or "cookie: beta=1". */
export function parseCanaryMatch(text: string): CanaryMatch | undefined {
  const value = text.trim();
  if (value === '') return undefined;
  const bad = (why: string) => new InputError('canary-header', `'${value}' ${why}: write a header name (X-Canary), a header and its value (X-Canary: yes), or cookie: NAME or cookie: NAME=VALUE`);
  const cookie = value.match(/^cookie\s*:\s*(.+)$/i);
  if (cookie) {
    const [name, ...rest] = cookie[1].trim().split('=');
    const wanted = rest.join('=');
    if (!COOKIE_NAME.test(name)) throw bad('has a cookie name that is not letters, digits and _');
    if (rest.length > 0 && !MATCH_VALUE.test(wanted)) throw bad('has a value that is not letters, digits and ._~-');
    return { kind: 'cookie', name, value: wanted };
  }
  const header = value.match(/^([^:\s]+)\s*(?::\s*(.*))?$/);
  if (!header || !HEADER_NAME.test(header[1])) throw bad('has a header name that is not letters, digits and -');
  const wanted = (header[2] ?? '').trim();
  if (wanted !== '' && !MATCH_VALUE.test(wanted)) throw bad('has a value that is not letters, digits and ._~-');
  return { kind: 'header', name: header[1], value: wanted };
}

function percent(read: InputReader, name: string, min: number, max: number): number {
  const text = read(name).trim();
  const number = Number(text.replace(/%$/, ''));
  if (!/^\d+(\.\d{1,2})?%?$/.test(text) || number < min || number > max)
    throw new InputError(name, `expected a percentage from ${min} to ${max} such as 5, 5% or 0.5 (two decimals at most), got '${text}'`);
  return number;
}

function maxLatency(read: InputReader): Judgement['maxLatency'] {
  const text = read('canary-max-latency').trim().toLowerCase();
  const ratio = text.match(/^(\d+(\.\d+)?)x$/);
  if (ratio && Number(ratio[1]) >= 1 && Number(ratio[1]) <= 100) return { ratio: Number(ratio[1]) };
  const ms = text.match(/^(\d+)ms$/) ?? text.match(/^(\d+(\.\d+)?)s$/);
  if (ms) {
    const value = text.endsWith('ms') ? Number(ms[1]) : Math.round(Number(ms[1]) * 1000);
    if (value >= 1 && value <= 600_000) return { ms: value };
  }
  throw new InputError('canary-max-latency', `expected how much slower the new slot's p95 may be than the live one's (2x) or a p95 limit (800ms, 2s), got '${text}'`);
}

export function readJudgement(read: InputReader): Judgement {
  return { maxErrorPercent: percent(read, 'canary-max-error-rate', 0, 100), maxLatency: maxLatency(read), minRequests: integer(read, 'canary-min-requests', 1, 1_000_000) };
}

/** rollout: canary's settings (undefined for another rollout). */
export function readCanary(read: InputReader, canary: boolean): CanaryConfig | undefined {
  if (!canary) return undefined;
  return {
    percent: percent(read, 'canary-percent', 0.01, 99),
    seconds: duration(read, 'canary-seconds', 1),
    onLowTraffic: oneOf(read, 'canary-on-low-traffic', ['revert', 'promote'] as const),
    match: parseCanaryMatch(read('canary-header')),
    ...readJudgement(read),
  };
}
