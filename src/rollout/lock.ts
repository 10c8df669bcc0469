// A run that changes an app takes the app's rollout lock on every host it will touch, in one global
// order, before the server script starts on any of them; so two runs of one app (a push and a
// re-run of an older job) never interleave across hosts, and never deadlock at each other's hosts.
// The server script's own per-app lock still orders the steps on each host.
import { PassThrough } from 'node:stream';
import type { SshConfig } from '../ssh/session';
import { shellQuote } from '../remote/shell';
import type { SshSession } from '../ssh/session';

export const LOCKED_LINE = 'bluegreen-rollout-locked';
export const BUSY_LINE = 'bluegreen-rollout-busy';
/** The lock command's exit codes when it could not take the lock. */
export const LOCK_EXIT = { noFlock: 3, cannotOpen: 4, timedOut: 5 } as const;

/** A server path for a POSIX shell: `~` is the login user's home, the rest quoted. */
export function remotePath(path: string): string {
  if (path === '~') return '"$HOME"';
  if (path.startsWith('~/')) return `"$HOME"/${shellQuote(path.slice(2))}`;
  return shellQuote(path);
}

/**
 * The command (POSIX sh: the login shell runs it) that takes `<state-dir>/apps/<app>/rollout.lock`
 * and holds it while its standard input stays open: the runner ends that input to release it, and a
 * runner that dies (its connection gone) releases it as well. It creates nothing the script has not:
 * before the app's first deploy on the server (no app directory yet) it locks the login user's home
 * directory instead (first deploys then wait for each other), so a run the script refuses leaves no
 * trace.
 */
export function rolloutLockCommand(stateDir: string, app: string, timeoutSeconds: number): string {
  const dir = `${remotePath(stateDir)}/apps/${shellQuote(app)}`;
  return [
    `command -v flock >/dev/null 2>&1 || exit ${LOCK_EXIT.noFlock}`,
    `dir=${dir}`,
    `if [ -d "$dir" ]; then (: >>"$dir/rollout.lock") 2>/dev/null || exit ${LOCK_EXIT.cannotOpen}; exec 9>>"$dir/rollout.lock"; else exec 9<"\${HOME:-/}"; fi`,
    `if ! flock -n 9; then echo ${BUSY_LINE}; flock -w ${Math.ceil(timeoutSeconds)} 9 || exit ${LOCK_EXIT.timedOut}; fi`,
    `echo ${LOCKED_LINE}`,
    'exec cat >/dev/null',
  ].join('; ');
}

/** The one order every run takes hosts' locks in: by host name (case-insensitive) and port. */
export function lockOrder<T extends { ssh: SshConfig }>(hosts: readonly T[]): T[] {
  const key = (h: T) => `${h.ssh.host.toLowerCase()}\u0000${String(h.ssh.port).padStart(5, '0')}`;
  return [...hosts].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Why a lock could not be taken, as the run reports it. */
export function lockFailure(app: string, where: string, code: number | null, timeoutSeconds: number): string {
  switch (code) {
    case LOCK_EXIT.noFlock:
      return `flock is not installed on ${where} (package util-linux)`;
    case LOCK_EXIT.cannotOpen:
      return `cannot open the rollout lock of ${app} on ${where} (is state-dir writable for the SSH user?)`;
    case LOCK_EXIT.timedOut:
      return `another run of ${app} still held ${where} after ${timeoutSeconds}s (lock-timeout); nothing was changed`;
    default:
      return `the rollout lock of ${app} on ${where} was lost (exit ${code ?? 'none'})`;
  }
}

export interface HeldLock {
  release(): Promise<void>;
}

/** A lock host: where it is, how it is named in logs, and its open session. */
export interface LockHost {
  ssh: SshConfig;
  label: string;
  session?: SshSession;
}

export class LockError extends Error {
  constructor(
    message: string,
    /** The host whose lock could not be taken. */
    readonly host: LockHost,
  ) {
    super(message);
    this.name = 'LockError';
  }
}

async function takeOne(host: LockHost, app: string, stateDir: string, timeoutSeconds: number, log: (line: string) => void): Promise<HeldLock> {
  const input = new PassThrough();
  let onLocked: () => void = () => {};
  const locked = new Promise<void>((resolve) => (onLocked = resolve));
  const done = (host.session as SshSession).exec(rolloutLockCommand(stateDir, app, timeoutSeconds), {
    stdin: input,
    onStdoutLine: (line) => {
      if (line === BUSY_LINE) log(`another run of ${app} holds the lock; waiting up to ${timeoutSeconds}s on ${host.label}`);
      if (line === LOCKED_LINE) onLocked();
    },
  });
  const ended = await Promise.race([locked.then(() => undefined), done]);
  if (ended !== undefined) {
    input.end();
    throw new LockError(lockFailure(app, host.label, ended.code, timeoutSeconds), host);
  }
  return {
    release: async () => {
      input.end();
      await done.catch(() => undefined);
    },
  };
}

/**
 * Takes the app's rollout lock on every host, one after the other in lockOrder; holds them all or,
 * when one cannot be had, releases the ones taken and throws a LockError naming that host.
 */
export async function takeRolloutLocks(hosts: readonly LockHost[], app: string, stateDir: string, timeoutSeconds: number, log: (line: string) => void): Promise<HeldLock> {
  const held: HeldLock[] = [];
  const releaseAll = async () => {
    await Promise.all(held.splice(0).map((lock) => lock.release()));
  };
  try {
    for (const host of lockOrder(hosts)) held.push(await takeOne(host, app, stateDir, timeoutSeconds, log));
  } catch (error) {
    await releaseAll();
    throw error;
  }
  return { release: releaseAll };
}
