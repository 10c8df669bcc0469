// The primitive input readers: each reads one input, validates it, and throws an InputError naming it.
import { parseDuration } from './duration';

/** A bad input: names the input so the user knows which line of the workflow to fix. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super(`Input '${input}': ${problem}`);
    this.name = 'InputError';
  }
}

/** Reads one raw input by its name in action.yml (GitHub has already filled in the defaults). */
export type InputReader = (name: string) => string;

/** An app's name: its containers', proxy config's and state directory's. */
export const APP_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** A list input: words separated by blanks, newlines or commas. */
export function words(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

export const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export const IMAGE_REF = /^(?![-.:/])[A-Za-z0-9._/:@-]+(?<![-.:/@])$/;

export function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export function hasControlChars(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text);
}

export function integer(read: InputReader, name: string, min: number, max: number): number {
  const text = read(name).trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InputError(name, `expected a whole number from ${min} to ${max}, got '${text}'`);
  }
  return Number(text);
}

/** One day: longer is a typo, and the server script's arithmetic (milliseconds in 64 bits) stays exact. */
export const MAX_DURATION_SECONDS = 86_400;

export function duration(read: InputReader, name: string, min = 0, max = MAX_DURATION_SECONDS): number {
  const text = read(name).trim();
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < min || seconds > max) {
    const most = max % 86400 === 0 && max > 86400 ? `${max / 86400}d` : `${max / 3600}h`;
    throw new InputError(name, `expected a duration such as 90, 90s, 2m or 1m30s (${min > 0 ? `at least ${min}s, ` : ''}at most ${most}), got '${text}'`);
  }
  return seconds;
}

export function boolean(read: InputReader, name: string): boolean {
  const text = read(name).trim().toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(text)) return true;
  if (['false', 'no', '0', 'off', ''].includes(text)) return false;
  throw new InputError(name, `expected true or false, got '${text}'`);
}

export const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;

export const IPV6_CIDR = /^[0-9a-f:]*:[0-9a-f:.]*(\/(12[0-8]|1[01]\d|\d?\d))?$/i;

export function cidrs(read: InputReader, name: string): string[] {
  const list = words(read(name));
  for (const item of list) {
    if (!IPV4_CIDR.test(item) && !IPV6_CIDR.test(item)) throw new InputError(name, `'${item}' is not an IP address or CIDR range such as 10.0.0.0/8`);
  }
  return list;
}

export function bodySize(read: InputReader, name: string): string {
  const text = read(name).trim().toLowerCase();
  if (!/^\d{1,6}[kmg]?$/.test(text)) throw new InputError(name, `expected a size such as 100m, 512k, 2g or 0 (no limit), got '${text}'`);
  return text;
}

export function logSize(read: InputReader, name: string): string {
  const text = read(name).trim().toLowerCase();
  if (!/^[1-9]\d{0,5}[kmg]$/.test(text)) throw new InputError(name, `expected a size such as 10m, 512k or 1g, got '${text}'`);
  return text;
}

export function required(read: InputReader, name: string): string {
  const value = read(name).trim();
  if (value === '') throw new InputError(name, 'is required and was not given');
  return value;
}

export function oneOf<T extends string>(read: InputReader, name: string, allowed: readonly T[]): T {
  const value = read(name).trim().toLowerCase();
  if (!allowed.includes(value as T)) throw new InputError(name, `expected one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

export function dockerName(read: InputReader, name: string): string {
  const value = required(read, name);
  if (!DOCKER_NAME.test(value)) throw new InputError(name, `'${value}' is not a valid Docker name (letters, digits, '_', '.', '-')`);
  return value;
}
