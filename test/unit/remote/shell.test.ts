import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '../../../src/remote/shell';

describe('shellQuote', () => {
  const hostile = ["it's", '$(id)', '`id`', '"; rm -rf / #', 'a\nb', '', ' ', '*', '~', '\\', "'''", '$HOME', 'ünï', '!x', '-n'];
  it.each(hostile)('bash reads back %j unchanged', (value) => {
    const out = execFileSync('bash', ['-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' });
    expect(out).toBe(value);
  });
  it('keeps plain words readable and refuses NUL', () => {
    expect(['docker', 'sha256:ab12', 'my app'].map(shellQuote).join(' ')).toBe("docker sha256:ab12 'my app'");
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
