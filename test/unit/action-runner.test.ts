// The test helper that runs the action as GitHub does reads GitHub's file commands as GitHub writes them.
import { describe, expect, it } from 'vitest';
import { parseFileCommands, inputEnvName } from '../helpers/action-runner';

describe('the test runner parses GitHub file commands', () => {
  it('reads name=value and the multi-line delimiter form', () => {
    const text = 'result=switched\nhealth-log<<ghadelimiter_1\n[1,\n2]\nghadelimiter_1\nempty=\n';
    expect(parseFileCommands(text)).toEqual({ result: 'switched', 'health-log': '[1,\n2]', empty: '' });
    expect(() => parseFileCommands('x<<EOF\nno end')).toThrow(/no closing delimiter/);
  });
  it('names inputs as the runner does', () => {
    expect(inputEnvName('ssh-key')).toBe('INPUT_SSH-KEY');
    expect(inputEnvName('my input')).toBe('INPUT_MY_INPUT');
  });
});
