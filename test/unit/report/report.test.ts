import { describe, expect, it } from 'vitest';
import { readConfig, secretValues } from '../../../src/inputs/config';
import { RESULT_BEGIN, RESULT_END, RESULT_VERSION, RemoteResult, SCRIPT_EXIT, parseRemoteResult } from '../../../src/remote/result';
import { EXIT_UNHEALTHY, RunReport, appUrl, exitCodeOf, headline, outcomeOf, redact, refusedOutputs, renderSummary, stepOutputs, trafficSection, trialsSection } from '../../../src/report/report';
import { readerFor } from '../../helpers/action-inputs';
import { baseInputs } from '../../helpers/fixtures';

const deployOf = (given: Record<string, string>) => readConfig(readerFor({ ...baseInputs(), ...given })).deploy;

const remoteResult = (over: Partial<RemoteResult> = {}): RemoteResult => ({
  command: 'deploy',
  app: 'shop',
  outcome: 'switched',
  exitCode: 0,
  error: null,
  failedPhase: null,
  previousSlot: 'blue',
  activeSlot: 'green',
  candidate: 'shop-green',
  imageId: 'sha256:' + 'ab'.repeat(32),
  health: [
    { try: 1, ms: 10, status: 503, error: null, latencyMs: 12 },
    { try: 2, ms: 1010, status: 200, error: null, latencyMs: 9 },
  ],
  phasesMs: { health: 1200, switch: 300 },
  totalMs: 1500,
  logTail: null,
  live: null,
  history: [],
  ...over,
});

/** A run's report: `over` for the runner's side, `remote` for the server script's result. */
function report(over: Partial<RunReport> = {}, remote: Partial<RemoteResult> = {}): RunReport {
  return {
    command: 'deploy',
    app: 'shop',
    host: 'srv.example.com',
    image: 'shop:1.2',
    imageId: 'sha256:' + 'ab'.repeat(32),
    url: 'http://shop.example.com/',
    transfer: { skipped: false, serverImageId: 'sha256:' + 'ab'.repeat(32), bytesSent: 3 * 1024 * 1024, bytesRead: 9 * 1024 * 1024, layersTotal: 5, layersSkipped: 4, resentWhole: false, seconds: 2 },
    remote: remoteResult(remote),
    phasesSeconds: { build: 0, transfer: 2 },
    totalSeconds: 9.5,
    ...over,
  };
}

describe('the job summary', () => {
  it('says what happened in the headline', () => {
    expect(headline(report())).toBe('✅ shop: switched BLUE → GREEN');
    expect(headline(report({}, { previousSlot: null, activeSlot: 'blue' }))).toBe('✅ shop: switched none → BLUE');
    expect(headline(report({}, { outcome: 'unchanged' }))).toBe('✅ shop: GREEN already runs this version');
    expect(headline(report({ image: 'shop:3' }, { outcome: 'failed', exitCode: 3, failedPhase: 'health', activeSlot: 'blue' }))).toBe('❌ shop: shop:3 failed its health check; BLUE still live');
    expect(headline(report({}, { outcome: 'failed', exitCode: 1, activeSlot: null }))).toBe('❌ shop: deploy failed; nothing live');
    // Unknown is not "nothing": no answer from the script, or none asked for.
    expect(headline(report({ remote: undefined, error: 'cut', resultLost: true }))).toBe('❌ shop: deploy failed; what is live is unknown (run command: status)');
    expect(headline(report({ remote: undefined, error: 'connection refused' }))).toBe('❌ shop: deploy failed; nothing changed on the server');
    expect(headline(report({ command: 'rollback' }))).toBe('✅ shop: rolled back BLUE → GREEN');
    expect(headline(report({ command: 'status' }, { outcome: 'unchanged' }))).toBe('ℹ️ shop: GREEN is live');
    expect(headline(report({ command: 'remove' }, { outcome: 'removed' }))).toBe('🗑️ shop: removed');
  });

  it('lists the facts, phases and health tries', () => {
    const md = renderSummary(report());
    expect(md).toContain('| **Slots** | BLUE → GREEN |');
    expect(md).toContain('| **Image** | `shop:1.2` (abababababab) |');
    expect(md).toContain('| **Sent** | 3.0 MiB (4 of 5 layers already on server) |');
    expect(md).toContain('| **Phases** | transfer 2.0s · health 1.2s · switch 0.3s |');
    expect(md).toContain('| 1 | 0.0s | 503 | 12 ms |');
    expect(md).toContain('| 2 | 1.0s | 200 | 9 ms |');
    expect(md).not.toContain('<details>');
    const resent = renderSummary(report({ transfer: { ...report().transfer!, resentWhole: true } }));
    expect(resent).toContain('sent whole again after an incomplete load');
    const failed = report({ transfer: undefined, bytesSent: 5 * 1024 * 1024, remote: undefined, error: 'cut' });
    expect(renderSummary(failed)).toContain('| **Sent** | 5.0 MiB before the transfer failed |');
    expect(stepOutputs(failed)['bytes-sent']).toBe(String(5 * 1024 * 1024));
    expect(
      renderSummary(report({ transfer: { skipped: true, serverImageId: 'sha256:' + 'ab'.repeat(32), bytesSent: 0, bytesRead: 0, layersTotal: 5, layersSkipped: 5, resentWhole: false, seconds: 0 } })),
    ).toContain('| **Sent** | already on server |');
  });

  it('folds a long health log and keeps it bounded', () => {
    const health = Array.from({ length: 1000 }, (_, i) => ({ try: i + 1, ms: i * 1000, status: null, error: 'Connection refused', latencyMs: 3 }));
    const md = renderSummary(report({}, { health }));
    expect(md).toContain('<details><summary>1000 tries');
    expect(md).toContain('700 earlier tries left out');
    expect(md.length).toBeLessThan(100_000);
  });

  it("shows the failed container's logs, escaped, and never a secret", () => {
    const md = renderSummary(
      report({}, { outcome: 'failed', exitCode: 3, failedPhase: 'health', error: 'did not become healthy | token=s3cr3t-value', logTail: 'boot\nusing token s3cr3t-value\n```\npanic: <oops>' }),
      ['s3cr3t-value'],
    );
    expect(md).not.toContain('s3cr3t-value');
    expect(md).toContain('> **Error:** did not become healthy \\| token=***');
    expect(md).toContain('### Last log lines of the failed container');
    expect(md).toContain("using token ***\n'''\npanic: <oops>");
  });

  it("stays under GitHub's 1 MiB limit whatever it is given", () => {
    const md = renderSummary(report({ error: 'x'.repeat(2_000_000) }));
    expect(md.length).toBeLessThan(1024 * 1024);
    expect(md).toContain('summary cut');
  });

  it('redacts longer secrets first', () => {
    expect(redact('abc abcdef', ['abc', 'abcdef'])).toBe('*** ***');
  });
});

describe('the outcome and exit code, read from the report', () => {
  const cases: Array<[string, RunReport, string, number]> = [
    ['switched', report(), 'switched', 0],
    ['nothing to do', report({}, { outcome: 'unchanged' }), 'unchanged', 0],
    ['unhealthy on the server', report({}, { outcome: 'failed', exitCode: SCRIPT_EXIT.unhealthy, error: 'x' }), 'failed', EXIT_UNHEALTHY],
    ['switch undone on the server', report({}, { outcome: 'failed', exitCode: SCRIPT_EXIT.switchUndone, error: 'x' }), 'failed', 1],
    ['failed on the runner', report({ remote: undefined, error: 'no such image' }), 'failed', 1],
    ['result lost', report({ remote: undefined, error: 'cut', resultLost: true }), 'failed', 1],
  ];
  it.each(cases)('%s', (_name, given, outcome, code) => {
    expect(outcomeOf(given)).toBe(outcome);
    expect(exitCodeOf(given)).toBe(code);
    expect(stepOutputs(given).result).toBe(outcome);
  });

  it('takes the error from the runner, else from the server', () => {
    expect(renderSummary(report({ error: 'runner broke' }, { error: 'server said' }))).toContain('> **Error:** runner broke');
    expect(renderSummary(report({}, { outcome: 'failed', exitCode: 4, error: 'nginx -t refused' }))).toContain('> **Error:** nginx -t refused');
  });
});

describe('step outputs', () => {
  it('gives every documented output as text', () => {
    expect(stepOutputs(report())).toEqual({
      result: 'switched',
      pruned: '',
      kept: '',
      'active-slot': 'green',
      'previous-slot': 'blue',
      'image-id': 'sha256:' + 'ab'.repeat(32),
      url: 'http://shop.example.com/',
      'bytes-sent': String(3 * 1024 * 1024),
      'failed-requests': '',
      traffic: '',
      trials: '',
      'duration-seconds': '9.5',
      'health-log': JSON.stringify(report().remote!.health),
      history: '[]',
      logs: '',
      'run-output': '',
      release: '',
      versions: '',
      maintenance: 'false',
      certificate: '',
    });
    expect(stepOutputs({ ...report(), remote: { ...report().remote!, maintenance: true } }).maintenance).toBe('true');
    const traffic = { fromMs: 1, toMs: 2, slots: {}, requests: 0, failed: 0, aborted: 0 };
    expect(stepOutputs({ ...report(), remote: { ...report().remote!, traffic } })).toMatchObject({ 'failed-requests': '0', traffic: JSON.stringify(traffic) });
  });
});

describe('refusedOutputs', () => {
  it('gives every output a run gives, result failed and the rest empty', () => {
    const out = refusedOutputs(0.4);
    expect(Object.keys(out).sort()).toEqual([...Object.keys(stepOutputs(report())), 'hosts'].sort());
    expect(out).toMatchObject({ result: 'failed', 'active-slot': '', 'image-id': '', url: '', 'bytes-sent': '0', 'duration-seconds': '0.4', 'health-log': '[]', hosts: '[]' });
  });
});

describe('appUrl', () => {
  it.each([
    [{}, 'http://srv.example.com/'],
    [{ 'proxy-ports': '8080:80' }, 'http://srv.example.com:8080/'],
    [{ 'proxy-ports': '127.0.0.1:18080:80' }, 'http://127.0.0.1:18080/'],
    [{ 'proxy-ports': '0.0.0.0:80:80/tcp' }, 'http://srv.example.com/'],
    [{ hostname: 'pr-7.preview.example.com' }, 'http://pr-7.preview.example.com/'],
    [{ hostname: 'shop.example.com', tls: 'acme', 'acme-email': 'ops@example.com' }, 'https://shop.example.com/'],
    [{ hostname: 'www.shop.example shop.example', 'canonical-host': 'shop.example', 'path-prefix': '/api' }, 'http://shop.example/api/'],
    [{ 'proxy-ports': '8080:80', 'path-prefix': '/admin/' }, 'http://srv.example.com:8080/admin/'],
  ])('%o -> %s', (given, url) => expect(appUrl(deployOf(given as Record<string, string>), 'srv.example.com')).toBe(url));
  it.each([
    ['::1', '18590:80', 'http://[::1]:18590/'],
    ['2001:db8::7', '80:80', 'http://[2001:db8::7]/'],
    ['::1', '[::1]:8080:80', 'http://[::1]:8080/'],
    ['::1', '[::]:8080:80', 'http://[::1]:8080/'],
  ])('an IPv6 host %s with %s -> %s', (host, ports, url) => expect(appUrl(deployOf({ 'proxy-ports': ports }), host)).toBe(url));
});

describe('parseRemoteResult', () => {
  const result = {
    version: RESULT_VERSION,
    command: 'deploy',
    app: 'shop',
    outcome: 'switched',
    exitCode: 0,
    error: null,
    failedPhase: null,
    previousSlot: 'blue',
    activeSlot: 'green',
    candidate: 'shop-green',
    imageId: 'sha256:x',
    health: [],
    phasesMs: { health: 5 },
    totalMs: 9,
    logTail: null,
    live: { container: '/shop-green', running: true, imageId: 'sha256:x', image: 'shop:1', gitSha: '', runUrl: '', deployedAt: '' },
    history: [],
  };
  it('finds the JSON between the markers among progress lines', () => {
    const parsed = parseRemoteResult(`[start] a\n[health] b\n${RESULT_BEGIN}\n${JSON.stringify(result)}\n${RESULT_END}\n`);
    expect(parsed.outcome).toBe('switched');
    expect(parsed.live?.container).toBe('shop-green');
  });
  it('says clearly when there is no result or a broken one', () => {
    expect(() => parseRemoteResult('[start] a\n')).toThrow(/without reporting a result/);
    expect(() => parseRemoteResult(`${RESULT_BEGIN}\n{nope\n${RESULT_END}`)).toThrow(/not JSON/);
    expect(() => parseRemoteResult(`${RESULT_BEGIN}\n{"version":${RESULT_VERSION},"outcome":"exploded","health":[]}\n${RESULT_END}`)).toThrow(/unknown shape/);
    expect(() => parseRemoteResult(`${RESULT_BEGIN}\n${JSON.stringify({ ...result, version: 1 })}\n${RESULT_END}`)).toThrow(/version 1, expected/);
  });
  it('counts markers only as whole lines: an app log that prints them stays part of the result (issue 11, defect 5)', () => {
    const logTail = `boot\n${RESULT_BEGIN}\n{"outcome":"switched"}\n${RESULT_END}\nunhealthy`;
    const failed = { ...result, outcome: 'failed', exitCode: 3, logTail };
    const parsed = parseRemoteResult(`[health] x ${RESULT_END} y\n${RESULT_BEGIN}\n${JSON.stringify(failed)}\n${RESULT_END}\n`);
    expect(parsed.outcome).toBe('failed');
    expect(parsed.logTail).toBe(logTail);
  });
});

describe('secrets in the job summary (issue 11, defect 7)', () => {
  const secret = 'p&ss<w>rd|1';
  const failing = report(
    {},
    {
      outcome: 'failed',
      error: `health check failed; the app printed ${secret}`,
      logTail: `connecting with password=${secret}\nDATABASE_URL=postgres://app:hunter@db/app`,
      health: [{ try: 1, ms: 0, status: null, error: `refused ${secret}`, latencyMs: 3 }],
    },
  );

  it('redacts a secret with & < > | wherever it appears, before any escaping', () => {
    const md = renderSummary(failing, [secret]);
    for (const form of [secret, 'p&amp;ss&lt;w&gt;rd\\|1', 'p&amp;ss', 'rd\\|1']) expect(md).not.toContain(form);
    expect(md.match(/\*\*\*/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('redacts the password inside a URL, taken from the env input', () => {
    const config = readConfig(readerFor({ ...baseInputs(), env: 'DATABASE_URL=postgres://app:hunter@db/app\nDEBUG=true\nAPI_KEY=abc' }));
    expect(config.secrets).toEqual(expect.arrayContaining(['postgres://app:hunter@db/app', 'hunter', 'abc']));
    expect(config.secrets).not.toContain('true');
    const md = renderSummary(failing, config.secrets);
    expect(md).not.toContain('hunter');
  });
});

describe('secretValues', () => {
  const cases: Array<[string, string[]]> = [
    ['LONG=abcdefgh', ['abcdefgh']],
    ['DEBUG=true', []],
    ['PORT=8080', []],
    ['DB_PASSWORD=abc', ['abc']],
    ['GITHUB_TOKEN=xy', []], // two characters would redact every "xy"
    ['SECRET_KEY_BASE=s3cr', ['s3cr']],
    ['URL=redis://:pw1@cache:6379', ['redis://:pw1@cache:6379', 'pw1']],
    ['URL=https://example.com/a@b', ['https://example.com/a@b']],
  ];
  it.each(cases)('%s -> %j', (entry, expected) => {
    expect(secretValues([entry])).toEqual(expected);
  });
});

describe('finalSummary', () => {
  it('redacts, and cuts what is over the limit, saying so', async () => {
    const { finalSummary, SUMMARY_LIMIT } = await import('../../../src/report/report');
    expect(finalSummary('token s3cr3t-value here', ['s3cr3t-value'])).toBe('token *** here');
    const long = finalSummary('x'.repeat(SUMMARY_LIMIT + 10), []);
    expect(long.startsWith('x'.repeat(SUMMARY_LIMIT) + '\n\n_(summary cut')).toBe(true);
    expect(long.length).toBeLessThan(SUMMARY_LIMIT + 100);
  });
});

describe('release phase, command run and rollback-to in the report (issue 22)', () => {
  const release = (over: Partial<NonNullable<RunReport['release']>> = {}): NonNullable<RunReport['release']> => ({
    ran: true,
    skipped: null,
    exitCode: 0,
    timedOut: false,
    seconds: 2.5,
    output: 'migrating\ndone',
    ...over,
  });
  const ran = (over: Partial<NonNullable<RemoteResult['run']>> = {}) => ({ ran: true, skipped: null, exitCode: 0, timedOut: false, seconds: 1, output: 'hello', ...over });

  it.each<[string, RunReport, number, string]>([
    [
      'release failed',
      report({ release: release({ exitCode: 7 }) }, { outcome: 'failed', exitCode: SCRIPT_EXIT.releaseFailed, activeSlot: 'blue' }),
      8,
      '❌ shop: the release command failed; nothing switched, BLUE still live (untouched)',
    ],
    [
      'release past its timeout',
      report({ release: release({ exitCode: null, timedOut: true }) }, { outcome: 'failed', exitCode: SCRIPT_EXIT.releaseFailed, activeSlot: null }),
      8,
      '❌ shop: the release command failed; nothing switched, nothing live (untouched)',
    ],
    ['run exited 0', report({ command: 'run' }, { command: 'run', outcome: 'unchanged', run: ran() }), 0, '✅ shop: run-command exited with 0'],
    [
      'run exited 42: the step fails with 42',
      report({ command: 'run' }, { command: 'run', outcome: 'failed', exitCode: SCRIPT_EXIT.commandFailed, run: ran({ exitCode: 42 }) }),
      42,
      '❌ shop: run-command exited with 42',
    ],
    [
      'run killed by a signal (137): 137',
      report({ command: 'run' }, { command: 'run', outcome: 'failed', exitCode: SCRIPT_EXIT.commandFailed, run: ran({ exitCode: 137 }) }),
      137,
      '❌ shop: run-command exited with 137',
    ],
    [
      'run past run-timeout',
      report({ command: 'run' }, { command: 'run', outcome: 'failed', exitCode: SCRIPT_EXIT.commandFailed, run: ran({ exitCode: null, timedOut: true }) }),
      1,
      '❌ shop: run-command ran past run-timeout',
    ],
    [
      'run that could not start (no live version)',
      report({ command: 'run' }, { command: 'run', outcome: 'failed', exitCode: 1, error: 'nothing is deployed', run: null, activeSlot: null }),
      1,
      '❌ shop: run failed; nothing live',
    ],
    ['rollback-to the live version', report({ command: 'rollback' }, { command: 'rollback', outcome: 'unchanged', activeSlot: 'green' }), 0, '✅ shop: GREEN already runs that version'],
    [
      'rollback-to an unknown version',
      report({ command: 'rollback' }, { command: 'rollback', outcome: 'failed', exitCode: 5, failedPhase: 'version', activeSlot: 'green' }),
      1,
      '❌ shop: rollback failed during version; GREEN still live',
    ],
  ])('%s', (_name, given, code, title) => {
    expect(exitCodeOf(given)).toBe(code);
    expect(headline(given)).toBe(title);
  });

  it('shows the release: how it ended, its last lines, a broken live version, or why it was skipped', () => {
    const ok = renderSummary(report({ release: release() }));
    expect(ok).toContain('### Release command\n\nIt exited with 0 after 2.5s.\n\n```text\nmigrating\ndone\n```');
    expect(ok).not.toContain('force: true');
    const broke = renderSummary(report({ release: release({ brokeLive: true }) }));
    expect(broke).toContain('The release made the version live before it unhealthy');
    expect(broke).toContain('needs `force: true`');
    expect(renderSummary(report({ release: release({ exitCode: null, timedOut: true, seconds: 600 }) }))).toContain('It ran past release-timeout and was stopped after 10m');
    expect(renderSummary(report({ release: release({ ran: false, skipped: 'the same image and settings are live', output: '' }) }))).toContain(
      '### Release command\n\nSkipped: the same image and settings are live.',
    );
    const long = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n');
    const cut = renderSummary(report({ release: release({ output: long }) }));
    expect(cut).toContain('_The last 40 of 100 lines:_');
    expect(cut).toContain('line 61\n');
    expect(cut).not.toContain('line 60\n');
  });

  it('redacts secrets in the release and run output, in the summary and in run-output', () => {
    const given = report({ command: 'run', release: release({ output: 'token=hunter22' }) }, { command: 'run', outcome: 'unchanged', run: ran({ output: 'DATABASE_URL=postgres://u:hunter22@db' }) });
    const summary = renderSummary(given, ['hunter22']);
    expect(summary).not.toContain('hunter22');
    expect(summary).toContain('### Output of run-command');
    expect(summary).toContain('postgres://u:***@db');
  });

  it('lists the versions rollback-to can reach on status and rollback, newest first as the server gave them', () => {
    const versions = [
      {
        imageId: 'sha256:' + '11'.repeat(32),
        image: 'shop:v3',
        gitSha: 'c0ffee'.repeat(7).slice(0, 40),
        runUrl: 'https://github.com/acme/shop/actions/runs/3',
        time: '2026-12-01T10:00:00Z',
        live: true,
      },
      { imageId: 'sha256:' + '22'.repeat(32), image: 'shop:v2', gitSha: null, runUrl: null, time: null, live: false },
    ];
    const summary = renderSummary(report({ command: 'status' }, { command: 'status', outcome: 'unchanged', versions }));
    expect(summary).toContain('### Versions on the server (rollback-to)');
    expect(summary).toContain(`| ${'11'.repeat(6)} (live) | shop:v3 | c0ffeec0ffee | 2026-12-01T10:00:00Z | https://github.com/acme/shop/actions/runs/3 |`);
    expect(summary).toContain(`| ${'22'.repeat(6)} | shop:v2 |  |  |  |`);
    expect(stepOutputs(report({ command: 'status' }, { command: 'status', outcome: 'unchanged', versions })).versions).toBe(JSON.stringify(versions));
    expect(renderSummary(report({ command: 'deploy' }, { versions }))).not.toContain('Versions on the server');
    expect(renderSummary(report({ command: 'status' }, { command: 'status', outcome: 'unchanged', versions: [] }))).toContain('None that rollback-to can reach.');
  });
});

describe('the receipt (issue 25, work in progress)', () => {
  const slot = (requests: number, failed = 0) => ({
    requests,
    '2xx': requests - failed,
    '3xx': 0,
    '4xx': 0,
    '5xx': failed,
    proxyErrors: 0,
    aborted: 0,
    p50Ms: 3,
    p95Ms: 9,
    p99Ms: 40,
    firstMs: 1_000,
    lastMs: 9_000,
  });

  it('shows each slot, old first, with the counts, the percentiles and when it answered', () => {
    const text = trafficSection({ fromMs: 0, toMs: 12_000, slots: { green: slot(200, 2), blue: slot(100) }, requests: 300, failed: 2, aborted: 0 }, 'blue', 'green');
    expect(text).toContain("300 requests in 12.0 s (from the new version's start to the end of the drain), **2 failed**.");
    const rows = text.split('\n').filter((line) => line.startsWith('| BLUE') || line.startsWith('| GREEN'));
    expect(rows).toEqual(['| BLUE | 100 | 100 / 0 / 0 | 0 | 0 | 0 | 3 / 9 / 40 ms | +1.0 s – +9.0 s |', '| GREEN | 200 | 198 / 0 / 0 | 2 | 0 | 0 | 3 / 9 / 40 ms | +1.0 s – +9.0 s |']);
  });

  it('says when the new version was healthy and when it got the traffic', () => {
    const text = trafficSection({ fromMs: 0, toMs: 12_000, slots: { green: slot(200), blue: slot(100) }, requests: 300, failed: 0, aborted: 0, healthyMs: 2_000, switchedMs: 2_150 }, 'blue', 'green');
    expect(text).toContain('Healthy at +2.0 s; the proxy sent it every request 150 ms later (+2.1 s); its first answer at +1.0 s.');
  });

  it('says when the count is partial (the log space was full)', () => {
    const text = trafficSection({ fromMs: 0, toMs: 12_000, slots: { blue: slot(100) }, requests: 100, failed: 0, aborted: 0, partial: true }, 'blue', 'green');
    expect(text).toContain('**0 failed**. **Partial:** the proxy');
    expect(trafficSection({ fromMs: 0, toMs: 12_000, slots: { blue: slot(100) }, requests: 100, failed: 0, aborted: 0 }, 'blue', 'green')).not.toContain('Partial');
  });

  it('says so when no request came', () => {
    expect(trafficSection({ fromMs: 0, toMs: 5_000, slots: {}, requests: 0, failed: 0, aborted: 0 }, null, 'blue')).toContain('No request reached the app in the 5.0 s');
  });
});

describe('trialsSection (issue 25): the numbers that decided a canary or a bake', () => {
  it('shows each trial with both slots and the decision', () => {
    const text = trialsSection([
      {
        kind: 'canary',
        decision: 'reverted',
        reason: '3 of its 40 requests failed (7.50%), more than canary-max-error-rate (1.00%)',
        percent: 20,
        ms: 2_400,
        candidate: { slot: 'green', requests: 40, failed: 3, p95Ms: 4 },
        live: { slot: 'blue', requests: 160, p95Ms: 3 },
      },
      {
        kind: 'bake',
        decision: 'passed',
        reason: '0 of its 900 requests failed',
        percent: 100,
        ms: 30_000,
        candidate: { slot: 'green', requests: 900, failed: 0, p95Ms: 5 },
        live: { slot: 'blue', requests: 0, p95Ms: 0 },
      },
    ]);
    expect(text.split('\n').slice(-2)).toEqual([
      '| canary, 20% of the clients | 2.4 s | GREEN: 40 requests, 3 failed, p95 4 ms | BLUE: 160 requests, p95 3 ms | ❌ reverted: 3 of its 40 requests failed (7.50%), more than canary-max-error-rate (1.00%) |',
      '| bake, all traffic | 30.0 s | GREEN: 900 requests, 0 failed, p95 5 ms | BLUE: 0 requests, p95 0 ms | ✅ passed: 0 of its 900 requests failed |',
    ]);
  });
});

describe('command prune: summary and outputs', () => {
  const at = Date.parse('2026-12-01T10:00:00Z');
  const pruneReport = (apps: NonNullable<RunReport['prune']>['apps'], error?: string): RunReport => ({
    command: 'prune',
    app: 'shop-pr-*',
    host: 'srv.example.com',
    image: '',
    prune: { prefix: 'shop-pr-', apps },
    error,
    phasesSeconds: {},
    totalSeconds: 4.2,
  });

  it('says what it removed and kept, with a row per app, and gives them as outputs', () => {
    const report = pruneReport([
      { app: 'shop-pr-1', action: 'removed', why: 'not in keep', lastDeployMs: at },
      { app: 'shop-pr-2', action: 'kept', why: 'in keep' },
    ]);
    expect(outcomeOf(report)).toBe('removed');
    expect(exitCodeOf(report)).toBe(0);
    const summary = renderSummary(report);
    expect(summary).toContain('## 🗑️ prune shop-pr-*: removed shop-pr-1; kept 1');
    expect(summary).toContain('| shop-pr-1 | 🗑️ removed | 2026-12-01T10:00:00Z | not in keep |');
    expect(summary).toContain('| shop-pr-2 | kept | unknown | in keep |');
    expect(summary).not.toContain('Slots');
    expect(stepOutputs(report)).toMatchObject({ result: 'removed', pruned: '["shop-pr-1"]', kept: '["shop-pr-2"]' });
  });

  it('is unchanged with nothing to remove, and failed (exit 1) when a removal failed', () => {
    expect(outcomeOf(pruneReport([{ app: 'shop-pr-2', action: 'kept', why: 'in keep' }]))).toBe('unchanged');
    expect(headline(pruneReport([]))).toBe('✅ prune shop-pr-*: nothing to remove');
    const failed = pruneReport([{ app: 'shop-pr-1', action: 'failed', why: 'not in keep', error: 'lock busy' }], 'could not remove shop-pr-1 (lock busy)');
    expect(outcomeOf(failed)).toBe('failed');
    expect(exitCodeOf(failed)).toBe(1);
    expect(headline(failed)).toBe('❌ prune shop-pr-*: could not remove shop-pr-1');
    expect(renderSummary(failed)).toContain('| shop-pr-1 | ❌ not removed | unknown | not in keep; lock busy |');
  });
});
