// The settings a deploy records: defaults, what was given, the container port of an image, and the
// server script's record and load (deploy.sh sourced with BG_SOURCE_ONLY=1).
import { runAfterScript } from '../../helpers/source-script';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Command, readConfig } from '../../../src/inputs/config';
import { planOf } from '../../../src/rollout/plan';
import { urlOf, type RunReport } from '../../../src/report/report';
import { renderDeployScript } from '../../../src/remote/script';
import { RECORDED_DEFAULTS, RECORDED_INPUTS, defaultContainerPort, givenRecordedInputs, portOfImage, withRecordedDefaults } from '../../../src/inputs/settings';
import { shellQuote } from '../../../src/remote/shell';
import { actionYml, readerFor } from '../../helpers/action-inputs';
import { baseInputs } from '../../helpers/fixtures';

describe('recorded inputs', () => {
  it('are left empty in action.yml, which names each default the code applies', () => {
    for (const name of RECORDED_INPUTS) {
      const input = actionYml.inputs[name];
      expect(input, name).toBeDefined();
      expect(input.default, name).toBe('');
      expect(input.description, name).toContain('Recorded by each deploy');
      const value = RECORDED_DEFAULTS[name];
      if (value !== '' && name !== 'container-port') expect(input.description, name).toContain(`Default: ${value}.`);
    }
  });

  it('read as their default when not given, and only given ones count as given', () => {
    const raw = readerFor({ ...baseInputs(), 'container-port': '3000', hostname: ' ' });
    expect(withRecordedDefaults(raw)('health-timeout')).toBe('60s');
    expect(withRecordedDefaults(raw)('container-port')).toBe('3000');
    expect(withRecordedDefaults(raw)('hostname')).toBe('');
    expect(givenRecordedInputs(raw)).toEqual(['container-port']);
    expect(readConfig(raw).given).toEqual(['container-port']);
    expect(readConfig(raw).deploy.health.timeoutSeconds).toBe(60);
  });

  it('take tls without a certificate for rollback (the one in place is served), not for deploy', () => {
    expect(readConfig(readerFor({ ...baseInputs(), command: 'rollback', tls: 'own' })).deploy.tls).toEqual({ mode: 'own', redirect: true });
    expect(() => readConfig(readerFor({ ...baseInputs(), tls: 'own' }))).toThrow(/Input 'tls-certificate'/);
  });
});

describe('the container port of an image', () => {
  it.each([
    [['3000/tcp'], 3000, "the image's EXPOSE 3000"],
    [[], 8080, 'the default; the image exposes no port'],
    [['53/udp'], 8080, 'the default; the image exposes no port'],
    [['3000/tcp', '9229/tcp'], 8080, 'the default; the image exposes 3000, 9229: give container-port to choose one'],
  ])('exposed %j -> %i (%s)', (exposed, port, why) => {
    expect(defaultContainerPort(exposed)).toEqual({ port, why });
  });

  it('passes PORT to the app unless env sets it, and a given container-port wins over EXPOSE', () => {
    expect(portOfImage({ containerPort: 8080, env: 'A=1' }, [], ['3000/tcp'])).toEqual({
      containerPort: 3000,
      env: 'A=1\nPORT=3000',
      note: "container port 3000 (the image's EXPOSE 3000); the app gets PORT=3000",
    });
    expect(portOfImage({ containerPort: 8080, env: '' }, [], ['3000/tcp']).env).toBe('PORT=3000');
    expect(portOfImage({ containerPort: 5000, env: 'PORT=5000' }, ['container-port'], ['3000/tcp'])).toEqual({ containerPort: 5000, env: 'PORT=5000', note: 'container port 5000 (container-port)' });
  });
});

describe('urlOf', () => {
  const report = (settings?: object): RunReport => ({
    command: 'rollback',
    app: 'shop',
    host: 'srv',
    image: '',
    url: 'http://srv/',
    phasesSeconds: {},
    totalSeconds: 1,
    remote: settings ? ({ settings } as RunReport['remote']) : undefined,
  });
  it.each([
    [undefined, 'http://srv/'],
    [{ hostnames: ['shop.example.com'], tls: 'acme', containerPort: 3000, recorded: true }, 'https://shop.example.com/'],
    [{ hostnames: ['*.preview.example.com'], tls: 'off', containerPort: 3000, recorded: true }, 'http://preview.example.com/'],
    [{ hostnames: [], tls: 'off', containerPort: 3000, recorded: true }, 'http://srv/'],
    [{ hostnames: ['x.example.com'], tls: 'off', containerPort: 3000, recorded: false }, 'http://srv/'],
    [{ hostnames: ['www.shop.example', 'shop.example'], tls: 'own', containerPort: 3000, recorded: true, canonicalHost: 'shop.example', pathPrefix: '/api/v2' }, 'https://shop.example/api/v2/'],
    [{ hostnames: ['shop.example'], tls: 'off', containerPort: 3000, recorded: true, canonicalHost: '', pathPrefix: '/' }, 'http://shop.example/'],
  ])('%j -> %s', (settings, url) => {
    expect(urlOf(report(settings))).toBe(url);
  });
});

/** Runs shell code after the script of `command` with these inputs (functions defined only), in one HOME. */
function callAs(home: string, command: Command, given: Record<string, string>, code: string): { status: number | null; stdout: string } {
  const config = readConfig(readerFor({ ...baseInputs(), ...given, command }));
  const script = renderDeployScript({
    command,
    locks: planOf(config).locks,
    deploy: config.deploy,
    image: '',
    imageId: '',
    serverImageId: '',
    gitSha: '',
    runUrl: 'https://ci/run/1',
    given: config.given,
  });
  const r = runAfterScript(script, code, { home });
  return { status: r.status, stdout: r.stdout };
}

describe('deploy.sh: record_settings and load_settings', () => {
  const deployed = { hostname: 'shop.example.com www.example.com', 'container-port': '3000', 'health-path': '/healthz', 'health-timeout': '2m', 'drain-seconds': '30' };
  const withRecord = (command: Command, given: Record<string, string>, code: string) => {
    const home = mkdtempSync(join(tmpdir(), 'bg-settings-'));
    try {
      expect(callAs(home, 'deploy', deployed, 'mkdir -p "$APP_DIR" && record_settings').status).toBe(0);
      return callAs(home, command, given, code);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  };

  it('records one line per variable, a list as its words', () => {
    const home = mkdtempSync(join(tmpdir(), 'bg-settings-'));
    try {
      const out = callAs(home, 'deploy', deployed, 'mkdir -p "$APP_DIR" && record_settings && cat "$SETTINGS_FILE"').stdout;
      expect(out.split('\n')[0]).toMatch(/^# bluegreen settings of shop, recorded \S+ by https:\/\/ci\/run\/1$/);
      expect(out).toContain('BG_HOSTNAMES\tshop.example.com www.example.com\n');
      expect(out).toContain('BG_CONTAINER_PORT\t3000\n');
      expect(out).toContain('BG_HEALTH_TIMEOUT_MS\t120000\n');
      expect(out).toContain('BG_TRUSTED_PROXIES\t\n');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('gives rollback the recorded values where it was given none, read-only afterwards', () => {
    const out = withRecord(
      'rollback',
      {},
      'load_settings >/dev/null && echo "${BG_HOSTNAMES[1]}|$BG_CONTAINER_PORT|$BG_HEALTH_PATH|$BG_HEALTH_TIMEOUT_MS|$BG_DRAIN_SECONDS|$BG_TLS" && (BG_CONTAINER_PORT=1) 2>/dev/null || echo read-only',
    );
    expect(out.stdout).toBe('www.example.com|3000|/healthz|120000|30|off\nread-only\n');
  });

  it('refuses a given input that differs from the record, naming it and both values', () => {
    const out = withRecord('rollback', { 'container-port': '8080', 'health-timeout': '120s', hostname: 'shop.example.com' }, 'load_settings');
    expect(out.status).toBe(2);
    expect(out.stdout).toContain(
      "this run gives other values for hostname (recorded: 'shop.example.com www.example.com', this run: 'shop.example.com'), container-port (recorded: '3000', this run: '8080')",
    );
    expect(out.stdout).not.toContain('health-timeout ('); // 120s is the recorded 2m
    expect(out.stdout).toContain('nothing was changed');
  });

  it('only notes a difference for status, which changes nothing', () => {
    const out = withRecord('status', { 'container-port': '8080' }, 'load_settings && echo "port $BG_CONTAINER_PORT"');
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("note: status shows what the deploy recorded; this run gives other values for container-port (recorded: '3000', this run: '8080')");
    expect(out.stdout).toContain('port 3000');
  });

  it('stops a run whose record a deploy changed while it waited for the lock', () => {
    const unchanged = withRecord('rollback', {}, 'load_settings >/dev/null && check_settings_unchanged && echo same');
    expect(unchanged.stdout).toBe('same\n');
    const changed = withRecord('rollback', {}, 'load_settings >/dev/null && printf "BG_CONTAINER_PORT\\t9000\\n" >>"$SETTINGS_FILE" && check_settings_unchanged');
    expect(changed.status).toBe(2);
    expect(changed.stdout).toContain('a deploy of shop changed its settings while this run waited for the lock; nothing was changed: run rollback again');
  });

  it("leaves a deploy's own values alone, whatever is recorded", () => {
    expect(withRecord('deploy', { 'container-port': '9000' }, 'load_settings && echo "$BG_CONTAINER_PORT"').stdout).toBe('9000\n');
  });

  it('ignores lines that name no setting, and values are data', () => {
    const home = mkdtempSync(join(tmpdir(), 'bg-settings-'));
    try {
      const record = 'BG_APP\tother\nPATH\t/nowhere\n\n$(touch pwned-name)\tx\nBG_HOSTNAMES[$(touch pwned-index)]\tx\nBG_HEALTH_PATH\t/$(touch pwned)`id`\n';
      const out = callAs(
        home,
        'rollback',
        {},
        `mkdir -p "$APP_DIR" && printf %s ${shellQuote(record)} >"$SETTINGS_FILE" && load_settings >/dev/null && echo "$BG_APP|$BG_HEALTH_PATH" && ls -A "$HOME"`,
      );
      expect(out.stdout).toBe('shop|/$(touch pwned)`id`\n.bluegreen\n');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
