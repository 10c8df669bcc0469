// The server script's functions, called one by one: deploy.sh sourced with BG_SOURCE_ONLY=1 defines them and runs nothing.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config';
import { renderDeployScript } from '../../src/remote/script';
import { readerFor } from '../helpers/action-inputs';
import { baseInputs } from '../helpers/fixtures';

/** Runs shell code after the script for these inputs, with its functions defined; returns stdout (throws on a non-zero exit). */
function callScript(given: Record<string, string>, code: string): { status: number | null; stdout: string } {
  const config = readConfig(readerFor({ ...baseInputs(), ...given }));
  const script = renderDeployScript({
    command: 'deploy', deploy: config.deploy, image: config.image, imageId: 'sha256:' + 'ab'.repeat(32),
    serverImageId: '', gitSha: '0123456789abcdef', runUrl: '',
  });
  const r = spawnSync('bash', ['-s'], { input: `${script}\n${code}\n`, env: { PATH: process.env.PATH, HOME: '/nonexistent', BG_SOURCE_ONLY: '1' }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout };
}

describe('nginx_id: an app name as part of an nginx variable or upstream name', () => {
  const cases: Array<[string, string]> = [
    ['shop', 'shop'],
    ['my-app', 'my_happ'],
    ['my_app', 'my__app'],
    ['my.app', 'my_dapp'],
    ['a_h', 'a__h'],
    ['a-h', 'a_hh'],
  ];
  it.each(cases)('%s -> %s', (app, id) => {
    expect(callScript({ app }, 'nginx_id').stdout).toBe(id);
  });
  it('never gives two app names one id', () => {
    const names = ['a-b', 'a_b', 'a.b', 'a__b', 'a_hb', 'a-hb', 'a_db', 'a.db', 'a-_b', 'a_-b'];
    const ids = names.map((app) => callScript({ app }, 'nginx_id').stdout);
    expect(new Set(ids).size).toBe(names.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9_]+$/);
  });
});

describe('version_at_least', () => {
  const cases: Array<[string, string, boolean]> = [
    ['1.27.3', '1.27.3', true],
    ['1.27.4', '1.27.3', true],
    ['1.28.0', '1.27.3', true],
    ['1.30.6', '1.27.3', true],
    ['2.0', '1.27.3', true],
    ['1.27.2', '1.27.3', false],
    ['1.26.10', '1.27.3', false],
    ['1.22.1', '1.27.3', false],
    ['1.9.15', '1.27.3', false],
    ['1.08.0', '1.27.3', false], // leading zeros are decimal, not octal
  ];
  it.each(cases)('%s >= %s: %s', (have, want, expected) => {
    expect(callScript({}, `version_at_least ${have} ${want}`).status).toBe(expected ? 0 : 1);
  });
});

describe('render_proxy_config', () => {
  const render = (keepalive: 0 | 1) =>
    callScript({ app: 'my-app', hostname: 'shop.example.com' }, `render_proxy_config green my-app-green ${keepalive}`).stdout;

  it('keeps connections to the app alive through an upstream that resolves the name at run time (nginx 1.27.3+)', () => {
    const conf = render(1);
    expect(conf.split('\n')[0]).toBe('# bluegreen: app=my-app slot=green container=my-app-green');
    expect(conf).toContain(
      'upstream bluegreen_my_happ_green {\n' +
        '    zone bluegreen_my_happ_green 64k;\n' +
        '    resolver 127.0.0.11 valid=1s ipv6=off;\n' +
        '    resolver_timeout 2s;\n' +
        '    server my-app-green:8080 resolve;\n' +
        '    keepalive 16;\n' +
        '}\n',
    );
    expect(conf).toContain('        proxy_pass http://bluegreen_my_happ_green;\n');
    expect(conf).toContain('map $http_upgrade $bluegreen_connection_my_happ {\n    default upgrade;\n    "" "";\n}\n');
    expect(conf).toContain('        proxy_set_header Connection $bluegreen_connection_my_happ;\n');
    expect(conf).not.toContain('$bluegreen_upstream');
  });

  it('names the container per request through a variable on older nginx (no keep-alive)', () => {
    const conf = render(0);
    expect(conf).not.toMatch(/^upstream /m);
    expect(conf).toContain('    resolver 127.0.0.11 valid=1s ipv6=off;\n    resolver_timeout 2s;\n    set $bluegreen_upstream my-app-green:8080;\n');
    expect(conf).toContain('        proxy_pass http://$bluegreen_upstream;\n');
    expect(conf).toContain('        proxy_set_header Connection $bluegreen_connection_my_happ;\n');
  });
});
