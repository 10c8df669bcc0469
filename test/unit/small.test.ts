import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runContext } from '../../src/context';
import { formatSeconds, parseDuration } from '../../src/duration';
import { ProgressThrottle, formatBytes, progressLine, summaryLine } from '../../src/progress';
import { shellQuote } from '../../src/shell';
import { chainIds, jsonMembers, layersOnServer, legacyLayerDirs } from '../../src/layers';
import { parseFileCommands, inputEnvName } from '../helpers/action-runner';

describe('parseDuration', () => {
  it.each([
    ['90', 90], ['1.5', 1.5], ['90s', 90], ['2m', 120], ['1m30s', 90], ['500ms', 0.5], ['1h', 3600], [' 10S ', 10],
  ])('%s is %d seconds', (text, seconds) => expect(parseDuration(text)).toBe(seconds));
  it.each(['', 'soon', '-1', '1 m', 'm', '1d', '1.2.3'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
  it('formats seconds for people', () => {
    expect([formatSeconds(0.25), formatSeconds(12.4), formatSeconds(75), formatSeconds(3725)]).toEqual(['0.3s', '12s', '1m 15s', '1h 2m']);
  });
});

describe('runContext', () => {
  it.each([
    [{}, { repository: undefined, gitSha: '', runUrl: '', summaryFile: undefined }],
    [
      { GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '42', GITHUB_SHA: 'abc', GITHUB_STEP_SUMMARY: '/s' },
      { repository: 'acme/shop', gitSha: 'abc', runUrl: 'https://github.com/acme/shop/actions/runs/42', summaryFile: '/s' },
    ],
    [
      { GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '7', GITHUB_SERVER_URL: 'https://ghe.example.com' },
      { repository: 'acme/shop', gitSha: '', runUrl: 'https://ghe.example.com/acme/shop/actions/runs/7', summaryFile: undefined },
    ],
    [{ GITHUB_REPOSITORY: 'acme/shop' }, { repository: 'acme/shop', gitSha: '', runUrl: '', summaryFile: undefined }],
  ])('%o', (env, context) => expect(runContext(env)).toEqual(context));
});

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

describe('progress', () => {
  const MiB = 1024 * 1024;
  it('describes a transfer under way', () => {
    expect(progressLine({ totalBytes: 100 * MiB, readBytes: 40 * MiB, sentBytes: 10 * MiB, elapsedSeconds: 4 })).toBe(
      '40% · 40.0 MiB of 100.0 MiB read · 10.0 MiB sent (ratio 0.25) · 10.0 MiB/s · ETA 6.0s',
    );
    expect(summaryLine({ totalBytes: 100 * MiB, readBytes: 100 * MiB, sentBytes: 50 * MiB, elapsedSeconds: 10 })).toBe(
      'sent 50.0 MiB for 100.0 MiB of image (ratio 0.50) in 10s, 10.0 MiB/s',
    );
    expect([formatBytes(10), formatBytes(2048), formatBytes(3 * 1024 * MiB)]).toEqual(['10 B', '2.0 KiB', '3.00 GiB']);
  });
  it('never claims 100% before the end, even when the tar is larger than the image', () => {
    expect(progressLine({ totalBytes: 10, readBytes: 12, sentBytes: 5, elapsedSeconds: 1 })).toMatch(/^99% /);
    // Past the estimate: never "175.1 MiB of 168.3 MiB", and no ETA it cannot know.
    expect(progressLine({ totalBytes: 168.3 * MiB, readBytes: 175.1 * MiB, sentBytes: 170 * MiB, elapsedSeconds: 10 })).toBe(
      '99% · 175.1 MiB read (more than the 168.3 MiB estimated) · 170.0 MiB sent (ratio 0.97) · 17.5 MiB/s · ETA ?',
    );
  });
  it('reports every 10% and at least every 5 seconds', () => {
    const throttle = new ProgressThrottle(5, 10);
    const at = (read: number, seconds: number) => throttle.shouldReport({ totalBytes: 100, readBytes: read, sentBytes: 0, elapsedSeconds: seconds });
    expect([at(1, 0.5), at(5, 1), at(10, 1.5), at(15, 2), at(16, 7), at(17, 8), at(35, 8.5), at(36, 9)]).toEqual([false, false, true, false, true, false, true, false]);
  });
});

describe('layer deduplication', () => {
  it('computes chain IDs as Docker does', () => {
    const [a, b] = ['sha256:' + '1'.repeat(64), 'sha256:' + '2'.repeat(64)];
    const chains = chainIds([a, b]);
    expect(chains[0]).toBe(a);
    expect(chains[1]).toBe('sha256:' + require('node:crypto').createHash('sha256').update(`${a} ${b}`).digest('hex'));
  });
  it('counts the leading layers the server already has, by chain, not by single layer', () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => 'sha256:' + x.repeat(64));
    expect(layersOnServer([a, b, c], [[a, b, d]])).toBe(2);
    expect(layersOnServer([a, b, c], [[b, a, c]])).toBe(0); // same layers, other order: other chains
    expect(layersOnServer([a, b], [])).toBe(0);
    expect(layersOnServer([a, b], [[a], [a, b, c]])).toBe(2);
  });
});

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

describe('legacy docker save layer names', () => {
  const fixture = JSON.parse(require('node:fs').readFileSync(require('node:path').join(__dirname, '../fixtures/legacy-save.json'), 'utf8')) as {
    diffIds: string[];
    manifestLayers: string[];
    lowerLayerJson: string;
  };
  it('computes the v1 directory names Docker 20.10 wrote for the lower layers', () => {
    const dirs = legacyLayerDirs(fixture.diffIds, fixture.lowerLayerJson);
    expect(dirs?.map((d) => `${d}/layer.tar`)).toEqual(fixture.manifestLayers.slice(0, -1));
  });
  it('gives up (leaving nothing out) on a json it cannot reproduce', () => {
    expect(legacyLayerDirs(fixture.diffIds, fixture.lowerLayerJson.replace('1970', '1971'))).toBeUndefined();
  });
  it('splits a compact JSON object into raw members, strings with escapes included', () => {
    expect(jsonMembers('{"a":"x\\"}y","b":{"c":[1,{"d":"]"}]},"e":null}')).toEqual([
      ['a', '"x\\"}y"'],
      ['b', '{"c":[1,{"d":"]"}]}'],
      ['e', 'null'],
    ]);
  });
});
