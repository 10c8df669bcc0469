import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { escapeData, fileCommandEntry, getInput, group, setFailed, setOutput, setSecret, warning } from '../../src/workflow-commands';
import { parseFileCommands } from '../helpers/action-runner';

describe('workflow commands', () => {
  const written: string[] = [];
  const saved = { output: process.env.GITHUB_OUTPUT, exitCode: process.exitCode };
  afterEach(() => {
    vi.restoreAllMocks();
    written.length = 0;
    process.env.GITHUB_OUTPUT = saved.output;
    process.exitCode = saved.exitCode;
  });
  const capture = () =>
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });

  it.each([
    ['plain', 'plain'],
    ['two\nlines', 'two%0Alines'],
    ['100% done\r', '100%25 done%0D'],
    ['%0A is not a newline', '%250A is not a newline'],
  ])('escapes %j as %j', (text, escaped) => expect(escapeData(text)).toBe(escaped));

  it.each([
    ['ssh-key', 'INPUT_SSH-KEY'],
    ['health path', 'INPUT_HEALTH_PATH'],
  ])('reads input %s from %s, trimmed', (name, variable) => {
    process.env[variable] = '  value \n';
    expect(getInput(name)).toBe('value');
    delete process.env[variable];
    expect(getInput(name)).toBe('');
  });

  it('writes outputs the runner parses back, multi-line values included', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bg-out-')), 'output');
    writeFileSync(file, '');
    process.env.GITHUB_OUTPUT = file;
    capture();
    setOutput('url', 'http://127.0.0.1:18080/');
    setOutput('traffic', '{"a":1}\n{"b":2}');
    expect(parseFileCommands(readFileSync(file, 'utf8'))).toEqual({ url: 'http://127.0.0.1:18080/', traffic: '{"a":1}\n{"b":2}' });
  });

  it('refuses a value that holds its delimiter', () => {
    expect(() => fileCommandEntry('x', 'a\nEOF\nb', 'EOF')).toThrow(/contains its delimiter/);
  });

  it('masks, warns and fails with one command line each, and sets the exit code on failure', async () => {
    capture();
    setSecret('s3cr%t\nline');
    warning('careful:\nthis');
    setFailed('it broke');
    await group('Connect to a: b', async () => written.push('inside\n'));
    expect(written.join('')).toBe('::add-mask::s3cr%25t%0Aline\n::warning::careful:%0Athis\n::error::it broke\n::group::Connect to a: b\ninside\n::endgroup::\n');
    expect(process.exitCode).toBe(1);
  });

  it('closes a group whose work throws', async () => {
    capture();
    await expect(group('g', () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(written.at(-1)).toBe('::endgroup::\n');
  });
});
