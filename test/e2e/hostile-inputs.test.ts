// Hostile and broken inputs, run through the bundled action against the real server: each is refused
// with a message that names the input, or passed to the app exactly as given. Either way nothing is
// run as code (no canary file appears), no file is created on the runner or the server, no container
// is left behind, and what the server had is unchanged.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { TestServer, getThroughProxy, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';

// The runner and the classic server are this machine: a value that runs as code on either side
// would create one of these.
const canary = (tag: string) => `/tmp/bg-pwned-${tag}`;
const CANARY_GLOB = /^bg-pwned-/;
const canaries = () => readdirSync('/tmp').filter((name) => CANARY_GLOB.test(name));
const touch = (tag: string) => `touch ${canary(tag)}`;

/** [the input the error must name, the hostile inputs] */
const REFUSED: Array<[string, Record<string, string>]> = [
  ['host', { host: `-oProxyCommand=${touch('host')}` }],
  ['host', { host: 'srv.example.com; reboot' }],
  ['port', { port: '22; reboot' }],
  ['port', { port: '99999' }],
  ['user', { user: `root -oProxyCommand=${touch('user')}` }],
  ['user', { user: '$(id)' }],
  ['ssh-key', { 'ssh-key': 'not a key' }],
  ['known-hosts', { 'known-hosts': '127.0.0.1 ssh-foo AAAA' }],
  ['known-hosts', { 'known-hosts': '', 'host-fingerprint': '' }],
  ['host-fingerprint', { 'known-hosts': '', 'host-fingerprint': 'MD5:aa:bb' }],
  ['insecure-skip-host-key-check', { 'insecure-skip-host-key-check': 'yes please' }],
  ['command', { command: 'deploy; reboot' }],
  ['app', { app: `x; ${touch('app')}` }],
  ['app', { app: `$(${touch('app2')})` }],
  ['app', { app: '../../etc' }],
  ['app', { app: 'A'.repeat(64) }],
  ['image', { image: `app:1 $(${touch('image')})` }],
  ['image', { image: 'app:' }],
  ['hostname', { hostname: 'shop.test; return 200' }],
  ['hostname', { hostname: 'shop.test\n} server { listen 80' }],
  ['network', { network: `x;${touch('net')}` }],
  ['network', { network: 'host' }],
  ['proxy-name', { 'proxy-name': 'proxy --privileged' }],
  ['proxy-image', { 'proxy-image': `nginx; ${touch('pimg')}` }],
  ['proxy-ports', { 'proxy-ports': '80:80 -v /:/host' }],
  ['container-port', { 'container-port': '8080; reboot' }],
  ['env', { env: `BAD-KEY=${touch('env')}` }],
  ['env', { env: 'NO_EQUALS_SIGN' }],
  ['volumes', { volumes: '/etc' }],
  ['docker-args', { 'docker-args': '--network=host' }],
  ['docker-args', { 'docker-args': '-p8080:80' }],
  ['docker-args', { 'docker-args': `; ${touch('dargs')}` }],
  ['docker-args', { 'docker-args': '--name=other' }],
  ['health-path', { 'health-path': `/ ; ${touch('hpath')}` }],
  ['health-status', { 'health-status': '200 OK' }],
  ['health-successes', { 'health-successes': '0' }],
  ['health-timeout', { 'health-timeout': '99999999999999999999' }],
  ['health-interval', { 'health-interval': '$(reboot)' }],
  ['drain-seconds', { 'drain-seconds': '-1' }],
  ['stop-timeout', { 'stop-timeout': '25h' }],
  ['keep-images', { 'keep-images': '0' }],
  ['lock-timeout', { 'lock-timeout': 'forever' }],
  ['max-body-size', { 'max-body-size': '5m; return 200' }],
  ['proxy-timeout', { 'proxy-timeout': '0' }],
  ['proxy-buffering', { 'proxy-buffering': 'on;' }],
  ['trusted-proxies', { 'trusted-proxies': '0.0.0.0/0; allow all' }],
  ['state-dir', { 'state-dir': 'relative/dir' }],
  ['build', { build: `sometimes; ${touch('build')}` }],
  ['build-args', { 'build-args': 'bad-key=supersecret' }],
  ['release-command', { 'release-command': `echo '${touch('release')}` }],
  ['release-command', { 'release-command': `echo \u0007; ${touch('release2')}` }],
  ['release-timeout', { 'release-command': 'true', 'release-timeout': '$(reboot)' }],
  ['run-command', { command: 'run', image: '', 'run-command': '' }],
  ['run-command', { command: 'run', image: '', 'run-command': `sh -c "${touch('run')}` }],
  ['run-lock', { command: 'run', image: '', 'run-command': 'true', 'run-lock': 'no;' }],
  ['rollback-to', { command: 'rollback', image: '', 'rollback-to': `$(${touch('rbto')})` }],
  ['force', { command: 'rollback', image: '', force: '1; reboot' }],
  ['workers', { workers: `x;${touch('wname')}: run` }],
  ['workers', { workers: '../../etc: run' }],
  ['workers', { workers: 'jobs run' }],
  ['workers', { workers: `jobs: sh -c '${touch('wcmd')}` }],
  ['workers', { workers: 'jobs*1000: run' }],
  ['worker-grace', { workers: 'jobs: run', 'worker-grace': '$(reboot)' }],
  ['web', { web: 'false; reboot' }],
  ['hostname', { web: 'false', workers: 'jobs: run' }],
  ['canonical-host', { 'canonical-host': 'hostile.test; return 200' }],
  ['canonical-host', { 'canonical-host': `$(${touch('canon')})` }],
  ['maintenance-page', { command: 'maintenance', image: '', 'maintenance-page': `<h1>\u0007${touch('page')}</h1>` }],
  ['path-prefix', { 'path-prefix': '/api; return 200' }],
  ['path-prefix', { 'path-prefix': '/api/../admin' }],
  ['path-prefix', { 'path-prefix': '/my api' }],
  ['path-prefix', { 'path-prefix': `/$(${touch('prefix')})` }],
  ['path-prefix', { 'path-prefix': '/api\n} server { listen 80' }],
  ['strip-prefix', { 'path-prefix': '/api', 'strip-prefix': 'true; reboot' }],
  ['compose-file', { engine: 'compose', 'compose-file': `$(${touch('compose')})` }],
  ['compose-file', { engine: 'compose', 'compose-file': '../../etc/passwd' }],
  ['compose-service', { engine: 'compose', command: 'rollback', 'compose-service': `web; ${touch('service')}` }],
  ['remove-volumes', { engine: 'compose', command: 'remove', 'remove-volumes': 'yes please' }],
];

/** Everything on the server a run could change: containers, images, networks, volumes, and files. */
function serverState(server: TestServer): string {
  const docker = (...args: string[]) => remoteDocker(server, args).split('\n').filter(Boolean).sort().join('\n');
  const files = (dir: string) => (existsSync(dir) ? execFileSync('find', [dir, '-printf', '%p %s %m %T@\\n'], { encoding: 'utf8' }).split('\n').sort().join('\n') : '');
  return [
    docker('ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}} {{.Image}} {{.State}}'),
    docker('image', 'ls', '-a', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'),
    docker('network', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}}'),
    docker('volume', 'ls', '-q'),
    files(`${server.home}/.bluegreen`),
    execFileSync('ls', ['-a', server.home], { encoding: 'utf8' }),
  ].join('\n---\n');
}

/** The run created nothing in its working directory but the runner's own command files. */
const leftFiles = (run: ActionRun) => readdirSync(run.workDir).filter((name) => !['output', 'summary', 'state'].includes(name));

describe('hostile and broken inputs (classic server)', () => {
  let server: TestServer;
  const app = (extra: Record<string, string> = {}) => serverInputs(server, { app: 'hostile', hostname: 'hostile.test', image: `${server.appImage}:v1`, ...extra });

  beforeAll(async () => {
    server = testServer('classic');
    resetServer(server);
    for (const name of canaries()) rmSync(`/tmp/${name}`, { recursive: true, force: true });
    expect((await runAction(app())).code).toBe(0); // something live that must stay as it is
  }, 120_000);

  it(`refuses ${REFUSED.length} of them, naming the input, and changes nothing anywhere`, async () => {
    const before = serverState(server);
    const runs: ActionRun[] = [];
    for (let i = 0; i < REFUSED.length; i += 6) {
      runs.push(...(await Promise.all(REFUSED.slice(i, i + 6).map(([, given]) => runAction(app(given))))));
    }
    REFUSED.forEach(([input, given], i) => {
      const run = runs[i];
      const what = `${JSON.stringify(given)}: ${run.stdout.slice(-400)}`;
      expect(run.code, what).toBe(1);
      expect(run.stdout, what).toMatch(new RegExp(`^::error::Input '${input}'`, 'm'));
      expect(run.stdout, what).not.toContain('supersecret');
      expect(run.stdout, what).not.toMatch(/::group::Connect/); // refused before anything reached out
      expect(leftFiles(run), what).toEqual([]);
    });
    expect(canaries()).toEqual([]);
    expect(serverState(server)).toBe(before);
    expect(await getThroughProxy(server, 'hostile.test')).toBe('200 v1');
  }, 180_000);

  it('refuses on the server, before anything is created there: a proxy name that is not a proxy, a state-dir the proxy does not read', async () => {
    const before = serverState(server);
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ app: 'intruder', 'proxy-name': 'hostile-blue' }, /the proxy hostile-blue reads its config from nowhere/],
      [{ app: 'intruder', 'state-dir': canary('state') }, /reads its config from .*, not from this run's \/tmp\/bg-pwned-state\/nginx/],
      [{ app: 'intruder', image: `${server.appImage}:does-not-exist` }, /image .*:does-not-exist is not on the runner/],
      [{ app: 'intruder', command: 'status', image: '' }, /intruder is not deployed on this server .*Give allow-missing: true/],
      [{ app: 'intruder', command: 'status', image: '', 'allow-missing': 'true' }, /intruder: unchanged; live slot none/],
    ];
    for (const [given, expected] of cases) {
      const run = await runAction(app(given));
      expect(run.stdout, JSON.stringify(given)).toMatch(expected);
      expect(leftFiles(run)).toEqual([]);
    }
    expect(canaries()).toEqual([]);
    expect(serverState(server)).toBe(before);
    expect(await getThroughProxy(server, 'hostile.test')).toBe('200 v1');
  }, 120_000);

  it('passes hostile values that are valid to the app exactly as given, running none of them', async () => {
    const env: Record<string, string> = {
      SUBST: `$(${touch('subst')})`,
      BACKTICK: `\`${touch('tick')}\``,
      QUOTES: `'"; ${touch('quote')}; echo "'`,
      SEMICOLON: `a; ${touch('semi')}`,
      EXPANSION: '${HOME} $PATH ~ * ?',
      BACKSLASH: 'a\\b\\nc\\',
      PRINTF: '%s%n%d',
      NGINX: '"; return 200; #',
      UNICODE: 'ünïcødé ✓',
    };
    const label = `x=$(${touch('label')}) "q" 'q'`;
    // The release command's words, each printed back on its own line by the container.
    const releaseWords = [`$(${touch('rel-subst')})`, `\`${touch('rel-tick')}\``, `it's "quoted"`, 'two\nlines', `; ${touch('rel-semi')} |`, '${HOME} *'];
    const releaseCommand = `printf '[%s]\\n' "\\$(touch ${canary('rel-subst')})" '\`touch ${canary('rel-tick')}\`' "it's \\"quoted\\"" 'two\nlines' '; touch ${canary('rel-semi')} |' '\${HOME} *'`;
    // A worker's command words, printed back by the worker as it starts.
    const workerWords = [`$(${touch('w-subst')})`, `\`${touch('w-tick')}\``, `it's; ${touch('w-semi')} |`];
    const workers = `words: sh -c 'printf "[%s]\\n" "$@"; exec sleep 600' sh "\\$(touch ${canary('w-subst')})" '\`touch ${canary('w-tick')}\`' "it's; touch ${canary('w-semi')} |"`;
    const run = await runAction(
      app({
        image: `${server.appImage}:v2`,
        // A value wholly in quotes is a .env quoted value (its quotes go): QUOTES is given that way, in quotes of its own.
        env: Object.entries(env)
          .map(([k, v]) => (k === 'QUOTES' ? `${k}="${v}"` : `${k}=${v}`))
          .join('\n'),
        'docker-args': `--label ${label}`,
        'health-path': `/health?q=$(${touch('hp').replace(/ /g, '${IFS}')})&x=\`id\`;'"`,
        'release-command': releaseCommand,
        workers,
        'worker-grace': '1s',
      }),
    );
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.release)).toMatchObject({ ran: true, exitCode: 0, output: releaseWords.map((word) => `[${word}]`).join('\n') });
    expect(remoteDocker(server, ['logs', 'hostile-green-words-1']).trim()).toBe(workerWords.map((word) => `[${word}]`).join('\n'));
    const seen = JSON.parse(remoteDocker(server, ['inspect', '-f', '{{json .Config.Env}}', 'hostile-green'])) as string[];
    for (const [key, value] of Object.entries(env)) expect(seen).toContain(`${key}=${value}`);
    const [labelKey, labelValue] = [label.slice(0, 1), label.slice(2)];
    expect(remoteDocker(server, ['inspect', '-f', `{{index .Config.Labels "${labelKey}"}}`, 'hostile-green']).trim()).toBe(labelValue);
    expect(canaries()).toEqual([]);
    expect(leftFiles(run)).toEqual([]);
    expect(await getThroughProxy(server, 'hostile.test')).toBe('200 v2');
  }, 120_000);
});
