import { describe, expect, it } from 'vitest';
import { withCommandsStopped } from '../../../src/report/stop-commands';

describe('withCommandsStopped', () => {
  it('brackets the work with stop-commands and the resume token, also when it throws', async () => {
    const lines: string[] = [];
    await expect(
      withCommandsStopped(
        (l) => lines.push(l),
        async () => {
          lines.push('::set-output name=x::from the server');
          throw new Error('boom');
        },
      ),
    ).rejects.toThrow('boom');
    expect(lines).toHaveLength(3);
    const token = lines[0].match(/^::stop-commands::([0-9a-f]{32})$/)?.[1];
    expect(token).toBeDefined();
    expect(lines[2]).toBe(`::${token}::`);
  });

  it('uses a new token every time, so the server cannot guess it', async () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 20; i++)
      await withCommandsStopped(
        (l) => void (l.startsWith('::stop-commands::') && tokens.add(l)),
        async () => undefined,
      );
    expect(tokens.size).toBe(20);
  });
});
