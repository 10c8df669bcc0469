import { randomBytes } from 'node:crypto';

/**
 * Runs work while the runner ignores workflow commands, so a line from the server (a login script's
 * output, an app's text in a log line, anything after a `\r`, which the runner also splits on) is
 * only ever shown, never obeyed. The token is random, so the server cannot resume commands itself.
 * Groups and masks must be opened before and closed after: they are workflow commands too.
 */
export async function withCommandsStopped<T>(write: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const token = randomBytes(16).toString('hex');
  write(`::stop-commands::${token}`);
  try {
    return await work();
  } finally {
    write(`::${token}::`);
  }
}
