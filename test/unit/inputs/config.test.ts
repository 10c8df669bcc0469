import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { uncheckedHosts } from '../../../src/inputs/ssh';
import { readerFor } from '../../helpers/action-inputs';
import { inputErrorOf as inputErrorFrom } from '../../helpers/input-error';
import { baseInputs, fixtureKey } from '../../helpers/fixtures';

const read = (given: Record<string, string>, context = {}) => readConfig(readerFor({ ...baseInputs(), ...given }), context);

const inputErrorOf = (given: Record<string, string>) => inputErrorFrom(() => read(given));

describe('readConfig', () => {
  it('applies action.yml defaults', () => {
    const config = read({});
    expect(config.command).toBe('deploy');
    expect(config.hosts[0]).toMatchObject({ host: 'deploy.example.test', port: 22, user: 'deploy', connectTimeoutSeconds: 20, connectRetries: 3 });
    expect(config.deploy).toMatchObject({
      app: 'shop',
      network: 'bluegreen',
      proxyName: 'bluegreen-proxy',
      proxyImage: 'nginx:1.27-alpine',
      proxyPorts: ['80:80', '443:443'],
      containerPort: 8080,
      drainSeconds: 30,
      drainLongLivedSeconds: 5,
      stopTimeoutSeconds: 30,
      keepImages: 3,
      lockTimeoutSeconds: 300,
      stateDir: '~/.bluegreen',
    });
    expect(config.deploy.health).toEqual({ path: '/', status: undefined, successes: 2, intervalSeconds: 1, timeoutSeconds: 60, tryTimeoutSeconds: 5 });
    expect(config.build).toEqual({ mode: 'auto', context: '.', dockerfile: undefined, buildArgs: [], target: undefined });
  });

  it('reads engine: swarm (replicas, how env reaches the service); docker leaves it undefined', () => {
    expect(read({}).deploy.swarm).toBeUndefined();
    expect(read({ engine: 'swarm' }).deploy.swarm).toEqual({ replicas: 1, env: 'variables' });
    expect(
      read({
        engine: 'swarm',
        replicas: '3',
        'swarm-env': 'secret',
        host: 'manager\nworker1',
        'host-fingerprint': '',
        'known-hosts': 'manager ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      }).deploy.swarm,
    ).toEqual({ replicas: 3, env: 'secret' });
  });

  it('reads several hosts, each with its own user and port, sharing the key and the host keys', () => {
    const config = read({
      host: 'web1\nops@web2:2222',
      'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      'host-fingerprint': '',
      'max-parallel': '2',
    });
    expect(config.hosts.map((h) => [h.user, h.host, h.port])).toEqual([
      ['deploy', 'web1', 22],
      ['ops', 'web2', 2222],
    ]);
    expect(config.hosts[1].privateKey).toBe(config.hosts[0].privateKey);
    expect(config.hosts[1].hostKey).toBe(config.hosts[0].hostKey);
    expect(config.maxParallel).toBe(2);
  });

  it("reads a jump host with its own key and known_hosts line, or the servers' key and pinning", () => {
    const line = 'bastion ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    const own = read({ 'proxy-jump': 'ops@bastion:2200', 'proxy-jump-known-hosts': line, 'proxy-jump-key': fixtureKey('rsa_pem') }).hosts[0].jump;
    expect(own).toMatchObject({ host: 'bastion', port: 2200, user: 'ops', hostKey: { kind: 'known-hosts' } });
    expect(own?.privateKey).toContain('BEGIN RSA PRIVATE KEY');
    const shared = read({ 'proxy-jump': 'bastion', 'known-hosts': line, 'host-fingerprint': '' });
    expect(shared.hosts[0].jump).toMatchObject({ host: 'bastion', port: 22, user: 'deploy', privateKey: shared.hosts[0].privateKey, hostKey: shared.hosts[0].hostKey });
    expect(read({ 'proxy-jump-key': fixtureKey('rsa_pem'), 'proxy-jump': 'bastion', 'proxy-jump-known-hosts': line }).secrets).toContain(fixtureKey('rsa_pem').trim());
  });

  it.each([
    [{ 'proxy-jump': 'bastion' }, ['deploy.example.test', 'the jump host bastion']],
    [{ 'proxy-jump': 'bastion', 'proxy-jump-known-hosts': 'bastion ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' }, ['deploy.example.test']],
    [{}, ['deploy.example.test']],
  ])('names every host whose key insecure-skip-host-key-check leaves unchecked, a jump host too: %o', (given, hosts) => {
    expect(uncheckedHosts(read({ 'host-fingerprint': '', 'insecure-skip-host-key-check': 'true', ...given }))).toEqual(hosts);
  });

  it('reads host names in lower case (ACME and nginx want them so)', () => {
    expect(read({ hostname: 'Shop.Example.COM www.example.com' }).deploy.hostnames).toEqual(['shop.example.com', 'www.example.com']);
    // Named twice (in any case): once, or nginx would be given the app's locations twice in one server block.
    expect(read({ hostname: 'Shop.example.com shop.example.com,www.example.com' }).deploy.hostnames).toEqual(['shop.example.com', 'www.example.com']);
  });

  it('names the app after the repository when app is empty', () => {
    expect(read({ app: '' }, { repository: 'Acme/My_Shop.Web' }).deploy.app).toBe('my_shop.web');
  });

  it.each([
    [{ host: '' }, 'host', 'is required'],
    [{ user: '' }, 'user', 'is required'],
    [{ 'ssh-key': '' }, 'ssh-key', 'is required'],
    [{ image: '' }, 'image', 'is required'],
    [{ port: '0' }, 'port', 'from 1 to 65535'],
    [{ port: '22x' }, 'port', "got '22x'"],
    [{ host: 'a b' }, 'host', 'not a host name'],
    [{ host: '# only a comment' }, 'host', 'names no host'],
    [{ host: 'web1\nweb1:22' }, 'host', 'deploy@web1 is given twice'],
    [{ host: 'web1\nweb2' }, 'host-fingerprint', 'pins one host key, and 2 hosts are given'],
    [{ 'max-parallel': '0' }, 'max-parallel', 'from 1 to 100'],
    [{ rollout: 'blue-green' }, 'rollout', 'expected one of rolling, all-at-once, canary'],
    [{ engine: 'k8s' }, 'engine', 'expected one of docker, swarm'],
    [{ engine: 'swarm', 'docker-args': '--memory=1g' }, 'docker-args', 'a Swarm service does not take'],
    [{ engine: 'swarm', rollout: 'all-at-once' }, 'rollout', 'Swarm rolls the service out itself'],
    [{ engine: 'swarm', replicas: '0' }, 'replicas', 'from 1 to 100'],
    [{ engine: 'swarm', 'swarm-env': 'file' }, 'swarm-env', 'expected one of variables, secret'],
    [{ 'proxy-jump': 'a\nb' }, 'proxy-jump', 'names one jump host'],
    [{ 'proxy-jump': 'bastion' }, 'proxy-jump-known-hosts', "pins the jump host's key"],
    [
      { 'proxy-jump': 'bastion', 'proxy-jump-known-hosts': 'bastion ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'proxy-jump-key': 'nope' },
      'proxy-jump-key',
      'does not look like a private key',
    ],
    [{ 'ssh-key': 'hello' }, 'ssh-key', 'does not look like a private key'],
    [{ 'ssh-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----' }, 'ssh-key', 'cannot be read'],
    [{ 'host-fingerprint': '' }, 'known-hosts', 'not pinned'],
    [{ 'host-fingerprint': 'MD5:aa' }, 'host-fingerprint', "expected 'SHA256:'"],
    [{ 'known-hosts': 'example.com ssh-foo AAAA' }, 'known-hosts', 'line 1'],
    [{ 'insecure-skip-host-key-check': 'maybe' }, 'insecure-skip-host-key-check', 'true or false'],
    [{ command: 'destroy' }, 'command', 'deploy, rollback, remove, status'],
    [{ build: 'sometimes' }, 'build', 'auto, true, false'],
    [{ 'build-args': 'NOEQUALS' }, 'build-args', 'KEY=VALUE'],
    [{ app: 'Shop' }, 'app', 'lower-case'],
    [{ app: '-x' }, 'app', 'lower-case'],
    [{ hostname: 'bad_host!' }, 'hostname', 'not a host name'],
    [{ network: 'a b' }, 'network', 'not a valid Docker name'],
    [{ network: 'host' }, 'network', "Docker's built-in networks"],
    [{ network: 'bridge' }, 'network', "Docker's built-in networks"],
    [{ 'proxy-ports': '80:80\nlots' }, 'proxy-ports', "'lots'"],
    [{ 'proxy-ports': '' }, 'proxy-ports', 'at least one'],
    [{ 'container-port': '70000' }, 'container-port', 'from 1 to 65535'],
    [{ volumes: 'nocolon' }, 'volumes', 'not a --volume spec'],
    [{ 'docker-args': '--name=x' }, 'docker-args', '--name is set by the action'],
    [{ 'docker-args': '-p 80:80' }, 'docker-args', '-p is set by the action'],
    [{ 'docker-args': 'rm -rf /' }, 'docker-args', 'not an option'],
    [{ 'docker-args': '-p8080:80' }, 'docker-args', '-p is set by the action'],
    [{ 'docker-args': '-tP' }, 'docker-args', '-t is set by the action'],
    [{ 'docker-args': '-Pt' }, 'docker-args', '-P is set by the action'],
    [{ 'docker-args': '-dit' }, 'docker-args', '-d is set by the action'],
    [{ 'docker-args': '--memory=1g\n-it' }, 'docker-args', '-i is set by the action'],
    [{ 'health-timeout': '99999999999999999999' }, 'health-timeout', 'at most 24h'],
    [{ 'health-interval': '25h' }, 'health-interval', 'at most 24h'],
    [{ 'stop-timeout': '86401' }, 'stop-timeout', 'at most 24h'],
    [{ 'drain-seconds': '1e3' }, 'drain-seconds', 'duration'],
    [{ 'build-args': 'bad-key=supersecret' }, 'build-args', 'not a variable name'],
    [{ 'health-path': 'health' }, 'health-path', "starting with '/'"],
    [{ 'health-path': '/a b' }, 'health-path', "starting with '/'"],
    [{ 'health-status': '700' }, 'health-status', 'from 100 to 599'],
    [{ 'health-successes': '0' }, 'health-successes', 'from 1 to 100'],
    [{ 'health-interval': 'soon' }, 'health-interval', 'duration'],
    [{ 'health-timeout': '0' }, 'health-timeout', 'at least 1s'],
    [{ 'drain-seconds': '-1' }, 'drain-seconds', 'duration'],
    [{ 'keep-images': '0' }, 'keep-images', 'from 1 to 100'],
    [{ 'max-body-size': '10 m' }, 'max-body-size', 'a size such as 100m'],
    [{ 'max-body-size': '1t' }, 'max-body-size', 'a size such as 100m'],
    [{ 'max-body-size': '5m; return 200' }, 'max-body-size', 'a size such as 100m'],
    [{ 'proxy-timeout': '0' }, 'proxy-timeout', 'at least 1s'],
    [{ 'proxy-buffering': 'sometimes' }, 'proxy-buffering', 'true or false'],
    [{ 'trusted-proxies': '10.0.0.0/33' }, 'trusted-proxies', 'not an IP address or CIDR'],
    [{ 'trusted-proxies': '10.0.0.0/8; allow all' }, 'trusted-proxies', 'not an IP address or CIDR'],
    [{ 'trusted-proxies': 'cloudflare' }, 'trusted-proxies', 'not an IP address or CIDR'],
    [{ 'state-dir': 'relative/dir' }, 'state-dir', 'absolute path'],
    [{ image: 'my image' }, 'image', 'not an image reference'],
    [{ image: 'app:' }, 'image', 'not an image reference'],
  ])('refuses %o naming input %s', (given, input, problem) => {
    const error = inputErrorOf(given as Record<string, string>);
    expect(error.input).toBe(input);
    expect(error.message).toContain(`Input '${input}'`);
    expect(error.message).toContain(problem);
  });

  it.each([[{ 'build-args': 'bad-key=supersecret' }], [{ 'build-args': 'supersecret' }], [{ env: 'bad-key=supersecret' }], [{ env: 'supersecret' }]])(
    'never echoes a secret-bearing value in its error: %o',
    (given) => {
      expect(inputErrorOf(given as Record<string, string>).message).not.toContain('supersecret');
    },
  );

  it('reads how the proxy carries traffic: body limit, timeout, buffering', () => {
    expect(read({}).deploy.http).toEqual({ maxBodySize: '100m', timeoutSeconds: 300, buffering: false, trustedProxies: [] });
    expect(read({ 'max-body-size': '2G', 'proxy-timeout': '1h', 'proxy-buffering': 'true', 'trusted-proxies': '173.245.48.0/20\n2400:cb00::/32, 10.1.2.3' }).deploy.http).toEqual({
      maxBodySize: '2g',
      timeoutSeconds: 3600,
      buffering: true,
      trustedProxies: ['173.245.48.0/20', '2400:cb00::/32', '10.1.2.3'],
    });
    expect(read({ 'max-body-size': '0' }).deploy.http.maxBodySize).toBe('0');
  });

  it.each([
    ['export KEY=value', 'KEY=value'],
    ['export   KEY=value', 'KEY=value'],
    ['KEY="quoted value"', 'KEY=quoted value'],
    ["KEY='single $NOT_EXPANDED'", 'KEY=single $NOT_EXPANDED'],
    ['KEY="with # hash" # comment', 'KEY=with # hash'],
    ['KEY=plain # not a comment', 'KEY=plain # not a comment'],
    ['KEY="unclosed', 'KEY="unclosed'],
    ['KEY=\'"; return 200; #', 'KEY=\'"; return 200; #'],
    ['KEY=a#b', 'KEY=a#b'],
    ['KEY = spaced', 'KEY=spaced'],
    ['KEY=', 'KEY='],
    ['KEY=""', 'KEY='],
    ['URL=postgres://u:p@db/x?a=b', 'URL=postgres://u:p@db/x?a=b'],
  ])('reads the .env form %s as %s', (line, entry) => {
    expect(read({ env: line }).deploy.env).toBe(entry);
  });

  it('never puts an env value into an error', () => {
    const error = inputErrorOf({ env: 'GOOD=1\nSECRET_VALUE_hunter2' });
    expect(error.input).toBe('env');
    expect(error.message).not.toContain('hunter2');
  });

  it('reads env, volumes, docker-args and hostnames line by line', () => {
    const config = read({
      env: '# comment\nA=1\n\nB=x=y\nC=',
      volumes: 'data:/data\n/srv/a b:/b:ro',
      'docker-args': '--memory=512m\n--cpus 1.5\n--label a=b c',
      hostname: 'shop.example.com, *.preview.example.com\nwww.example.com',
    });
    expect(config.deploy.env).toBe('A=1\nB=x=y\nC=');
    expect(config.deploy.volumes).toEqual(['data:/data', '/srv/a b:/b:ro']);
    expect(config.deploy.dockerArgs).toEqual(['--memory=512m', '--cpus', '1.5', '--label', 'a=b c']);
    expect(config.deploy.hostnames).toEqual(['shop.example.com', '*.preview.example.com', 'www.example.com']);
  });

  it('collects secrets: the key, the passphrase and every env value', () => {
    const config = read({ 'ssh-key': fixtureKey('ecdsa_pass'), 'ssh-key-passphrase': 'pass phrase', env: 'TOKEN=abc123\nX=1\nMODE=test' });
    expect(config.secrets).toContain('pass phrase');
    expect(config.secrets).toContain('abc123');
    expect(config.secrets.some((s) => s.includes('PRIVATE KEY'))).toBe(true);
    expect(config.secrets).not.toContain('1'); // too short to mask without masking everything
    expect(config.secrets).not.toContain('test');
  });

  it('reads OpenSSH, PEM and passphrase-protected keys, and says when the passphrase is wrong', () => {
    expect(read({ 'ssh-key': fixtureKey('rsa_pem') }).hosts[0].privateKey).toContain('BEGIN RSA PRIVATE KEY');
    expect(read({ 'ssh-key': fixtureKey('ecdsa_pass'), 'ssh-key-passphrase': 'pass phrase' }).hosts[0].passphrase).toBe('pass phrase');
    const error = inputErrorOf({ 'ssh-key': fixtureKey('ecdsa_pass'), 'ssh-key-passphrase': 'wrong' });
    expect(error.input).toBe('ssh-key');
    expect(error.message).toMatch(/passphrase/);
  });

  it('takes durations with units', () => {
    const config = read({ 'health-interval': '500ms', 'health-timeout': '1m30s', 'lock-timeout': '2m', 'drain-seconds': '2.5' });
    expect(config.deploy.health.intervalSeconds).toBe(0.5);
    expect(config.deploy.health.timeoutSeconds).toBe(90);
    expect(config.deploy.lockTimeoutSeconds).toBe(120);
    expect(config.deploy.drainSeconds).toBe(2.5);
  });

  it('prefers known-hosts, then host-fingerprint, and allows no pinning only when asked', () => {
    const line = '[1.2.3.4]:2222 ' + fixtureKey('ed25519.pub').split(' ').slice(0, 2).join(' ');
    expect(read({ 'known-hosts': line }).hosts[0].hostKey.kind).toBe('known-hosts');
    expect(read({}).hosts[0].hostKey).toEqual({ kind: 'fingerprint', fingerprint: 'SHA256:' + 'A'.repeat(43) });
    expect(read({ 'host-fingerprint': '', 'insecure-skip-host-key-check': 'true' }).hosts[0].hostKey).toEqual({ kind: 'insecure' });
  });

  it('does not need an image for status, remove and rollback', () => {
    for (const command of ['status', 'remove', 'rollback']) expect(read({ command, image: '' }).image).toBe('');
  });
});

describe('readConfig: release phase, one-off commands, rollback-to (issue 22)', () => {
  it('reads release-command for a deploy only, with release-timeout (default 10m)', () => {
    expect(read({}).release).toBeUndefined();
    expect(read({ 'release-command': "bin/rails db:migrate VERSION='1 2'" }).release).toEqual({ words: ['bin/rails', 'db:migrate', 'VERSION=1 2'], timeoutSeconds: 600 });
    expect(read({ 'release-command': 'migrate', 'release-timeout': '90s' }).release?.timeoutSeconds).toBe(90);
    // A rollback job sharing the deploy's inputs does not run it.
    expect(read({ command: 'rollback', image: '', 'release-command': 'migrate' }).release).toBeUndefined();
  });

  it('reads command: run with run-command, run-timeout (default 1h) and run-lock (default true)', () => {
    const config = read({ command: 'run', image: '', 'run-command': 'bin/rails runner "puts 1"' });
    expect(config.oneOff).toEqual({ words: ['bin/rails', 'runner', 'puts 1'], timeoutSeconds: 3600, lock: true });
    expect(config.image).toBe('');
    expect(read({ command: 'run', 'run-command': 'x', 'run-lock': 'false', 'run-timeout': '5m' }).oneOff).toEqual({ words: ['x'], timeoutSeconds: 300, lock: false });
    expect(read({ 'run-command': 'x' }).oneOff).toBeUndefined();
  });

  it('reads rollback-to for a rollback, and force', () => {
    expect(read({ command: 'rollback', image: '', 'rollback-to': ' 0123456789ab ' }).rollbackTo).toBe('0123456789ab');
    expect(read({ command: 'rollback', image: '', 'rollback-to': 'registry.example/shop:v1.2@sha256:' + 'a'.repeat(64) }).rollbackTo).toContain('shop:v1.2');
    expect(read({ command: 'rollback', image: '', 'rollback-to': 'https://github.com/acme/shop/actions/runs/123' }).rollbackTo).toContain('/runs/123');
    expect(read({ 'rollback-to': 'abc1234' }).rollbackTo).toBe('');
    expect(read({}).force).toBe(false);
    expect(read({ command: 'rollback', image: '', force: 'true' }).force).toBe(true);
  });

  it.each([
    [{ command: 'run', 'run-command': '' }, 'run-command', 'is required with command: run'],
    [{ command: 'run', 'run-command': '  \n ' }, 'run-command', 'is required with command: run'],
    [{ command: 'run', 'run-command': "echo 'open" }, 'run-command', "a ' opened at character 6 is never closed"],
    [{ command: 'run', 'run-command': 'echo \u0007bell' }, 'run-command', 'contains control characters'],
    [{ command: 'run', 'run-command': 'x', 'run-lock': 'maybe' }, 'run-lock', 'true or false'],
    [{ command: 'run', 'run-command': 'x', 'run-timeout': '0' }, 'run-timeout', 'at least 1s'],
    [{ 'release-command': 'echo "open' }, 'release-command', 'a " opened at character 6 is never closed'],
    [{ 'release-command': 'echo \\' }, 'release-command', 'lone backslash'],
    [{ 'release-command': 'migrate', 'release-timeout': 'soon' }, 'release-timeout', 'duration'],
    [{ command: 'rollback', image: '', 'rollback-to': 'v1; rm -rf /' }, 'rollback-to', 'is not an image ID, image reference, commit SHA or run URL'],
    [{ command: 'rollback', image: '', 'rollback-to': '$(id)' }, 'rollback-to', 'is not an image ID'],
    [{ command: 'rollback', image: '', 'rollback-to': 'abc1234', engine: 'swarm' }, 'rollback-to', 'rollback-to is for engine: docker'],
    [{ command: 'rollback', image: '', force: 'yes please' }, 'force', 'true or false'],
  ])('refuses %o naming input %s', (given, input, problem) => {
    const error = inputErrorOf(given as Record<string, string>);
    expect(error.input).toBe(input);
    expect(error.message).toContain(problem);
  });
});

describe('readConfig: other health checks (issue 23)', () => {
  it('reads health-port and health-command (as words), none by default', () => {
    expect(read({}).deploy.health).toMatchObject({ port: undefined, command: undefined });
    expect(read({ 'health-port': '9090' }).deploy.health.port).toBe(9090);
    expect(read({ 'health-command': `sh -c 'curl -fs localhost:8080/up || exit 1'` }).deploy.health.command).toEqual(['sh', '-c', 'curl -fs localhost:8080/up || exit 1']);
  });

  it.each([
    [{ 'health-port': '0' }, 'health-port', 'from 1 to 65535'],
    [{ 'health-port': '80; reboot' }, 'health-port', "got '80; reboot'"],
    [{ 'health-command': "sh -c 'open" }, 'health-command', 'is never closed'],
    [{ 'health-command': 'true\u0000' }, 'health-command', 'contains control characters'],
    [{ engine: 'swarm', 'health-port': '9090' }, 'health-port', 'is for engine: docker'],
    [{ engine: 'swarm', 'health-command': 'true' }, 'health-command', 'is for engine: docker'],
  ])('refuses %o naming input %s', (given, input, problem) => {
    const error = inputErrorOf(given as Record<string, string>);
    expect(error.input).toBe(input);
    expect(error.message).toContain(problem);
  });
});

describe('readConfig: workers and web: false (issue 23)', () => {
  it('reads NAME: COMMAND and NAME*N: COMMAND lines as words; none, web and a 5s grace by default', () => {
    expect(read({}).deploy).toMatchObject({ workers: [], web: true, workerGraceSeconds: 5 });
    const { deploy } = read({ workers: `jobs: bundle exec sidekiq -q 'default, 2'\n# a comment\nmail*3 : sh -c 'exec mailer'`, 'worker-grace': '2s' });
    expect(deploy.workers).toEqual([
      { name: 'jobs', replicas: 1, words: ['bundle', 'exec', 'sidekiq', '-q', 'default, 2'] },
      { name: 'mail', replicas: 3, words: ['sh', '-c', 'exec mailer'] },
    ]);
    expect(deploy.workerGraceSeconds).toBe(2);
    expect(read({ web: 'false', workers: 'q: consume' }).deploy).toMatchObject({ web: false, workers: [{ name: 'q', replicas: 1, words: ['consume'] }] });
  });

  it.each([
    [{ workers: 'bundle exec sidekiq' }, 'workers', "line 1 has no ':'"],
    [{ workers: 'Jobs: run' }, 'workers', "its name 'Jobs' is not lower-case letters"],
    [{ workers: 'jobs;reboot: run' }, 'workers', "its name 'jobs;reboot' is not"],
    [{ workers: '../x: run' }, 'workers', 'is not lower-case letters'],
    [{ workers: 'jobs*0: run' }, 'workers', 'jobs: *0 is not a number of containers from 1 to 20'],
    [{ workers: 'jobs*21: run' }, 'workers', 'from 1 to 20'],
    [{ workers: 'jobs: run\njobs: again' }, 'workers', 'jobs is named twice'],
    [{ workers: 'jobs:   ' }, 'workers', 'jobs has no command'],
    [{ workers: "jobs: sh -c 'open" }, 'workers', 'is never closed'],
    [{ workers: 'jobs: run\u0007' }, 'workers', 'jobs: contains control characters'],
    [{ workers: 'jobs: run', 'worker-grace': 'a while' }, 'worker-grace', 'duration'],
    [{ web: 'maybe' }, 'web', 'true or false'],
    [{ web: 'false' }, 'web', 'false means the app is only workers'],
    [{ web: 'false', workers: 'q: run', hostname: 'a.example' }, 'hostname', 'gets no route'],
    [{ engine: 'swarm', workers: 'q: run' }, 'workers', 'are for engine: docker'],
    [{ engine: 'swarm', web: 'false' }, 'web', 'false is for engine: docker'],
  ])('refuses %o naming input %s', (given, input, problem) => {
    const error = inputErrorOf(given as Record<string, string>);
    expect(error.input).toBe(input);
    expect(error.message).toContain(problem);
  });

  it('never echoes a worker command in an error (it may carry a secret)', () => {
    const error = inputErrorOf({ workers: "jobs: run --token=s3cr3t-value 'open" });
    expect(error.message).not.toContain('s3cr3t');
  });
});

describe('readConfig: maintenance and canonical-host (issue 23)', () => {
  it('reads the maintenance page (a plain default) only for command maintenance, and canonical-host among the host names', () => {
    expect(read({ command: 'maintenance', image: '' }).maintenancePage).toContain('Down for maintenance');
    expect(read({ command: 'maintenance', image: '', 'maintenance-page': '<h1>soon</h1>' }).maintenancePage).toBe('<h1>soon</h1>');
    expect(read({ command: 'live', image: '', 'maintenance-page': '<h1>soon</h1>' }).maintenancePage).toBe('');
    expect(read({ hostname: 'Example.com www.example.com', 'canonical-host': 'EXAMPLE.com' }).deploy.canonicalHost).toBe('example.com');
    expect(read({}).deploy.canonicalHost).toBe('');
  });

  it.each([
    [{ command: 'maintenance', image: '', 'maintenance-page': 'a\u0000b' }, 'maintenance-page', 'contains control characters'],
    [{ command: 'maintenance', image: '', 'maintenance-page': 'x'.repeat(300 * 1024) }, 'maintenance-page', 'is over 256 KiB'],
    [{ command: 'maintenance', image: '', web: 'false', workers: 'q: run' }, 'command', 'maintenance is for apps with a web process'],
    [{ command: 'live', image: '', engine: 'swarm' }, 'command', 'live is for engine: docker'],
    [{ hostname: 'a.example b.example', 'canonical-host': 'c.example' }, 'canonical-host', "is not one of hostname's names"],
    [{ hostname: 'a.example b.example', 'canonical-host': 'a.example; return 200' }, 'canonical-host', 'is not one of'],
    [{ hostname: 'a.example', 'canonical-host': 'a.example' }, 'canonical-host', 'needs at least two names'],
    [{ hostname: '*.a.example b.example', 'canonical-host': '*.a.example' }, 'canonical-host', 'wildcard'],
  ])('refuses %o naming input %s', (given, input, problem) => {
    const error = inputErrorOf(given as Record<string, string>);
    expect(error.input).toBe(input);
    expect(error.message).toContain(problem);
  });
});

describe('readConfig: path-prefix and strip-prefix (issue 23)', () => {
  it.each([
    [{}, '/', false],
    [{ 'path-prefix': '/api' }, '/api', false],
    [{ 'path-prefix': ' /api/ ', 'strip-prefix': 'true' }, '/api', true],
    [{ 'path-prefix': '/v2.0/Admin_x~y-z' }, '/v2.0/Admin_x~y-z', false],
  ])('reads %o as prefix %s, strip %s', (given, prefix, strip) => {
    const { deploy } = read(given as Record<string, string>);
    expect([deploy.pathPrefix, deploy.stripPrefix]).toEqual([prefix, strip]);
  });

  it.each([
    [{ 'path-prefix': 'api' }, 'path-prefix', 'is not a path like /api'],
    [{ 'path-prefix': '/api//v2' }, 'path-prefix', 'is not a path like /api'],
    [{ 'path-prefix': '/api/../admin' }, 'path-prefix', 'is not a path like /api'],
    [{ 'path-prefix': '/a b' }, 'path-prefix', 'is not a path like /api'],
    [{ 'path-prefix': '/api;return 200' }, 'path-prefix', 'is not a path like /api'],
    [{ 'path-prefix': '/api$1' }, 'path-prefix', 'is not a path like /api'],
    [{ 'path-prefix': '/x\u0000' }, 'path-prefix', "'?' is not a path"],
    [{ 'path-prefix': '/' + 'a'.repeat(120) }, 'path-prefix', 'at most 100'],
    [{ 'path-prefix': '/__bluegreen/slot' }, 'path-prefix', 'keeps for itself'],
    [{ 'path-prefix': '/api', web: 'false', workers: 'q: run' }, 'path-prefix', 'web: false'],
    [{ 'path-prefix': '/api', engine: 'swarm' }, 'path-prefix', 'engine: docker'],
    [{ 'strip-prefix': 'true' }, 'strip-prefix', 'path-prefix is /'],
    [{ 'path-prefix': '/api', 'strip-prefix': 'yes please' }, 'strip-prefix', ''],
  ])('refuses %o naming input %s', (given, input, problem) => {
    const error = inputErrorOf(given as Record<string, string>);
    expect(error.input).toBe(input);
    expect(error.message).toContain(problem);
  });
});

describe('readConfig: command prune (issue 26)', () => {
  const prune = (given: Record<string, string>) => read({ command: 'prune', image: '', ...given });

  it('reads prune-prefix, keep (any separators, each name once) and prune-after (days allowed)', () => {
    expect(prune({ 'prune-prefix': 'shop-pr-', keep: 'shop-pr-1, shop-pr-2\nshop-pr-1 shop' }).prune).toEqual({
      prefix: 'shop-pr-',
      keep: ['shop-pr-1', 'shop-pr-2', 'shop'],
      afterSeconds: undefined,
    });
    expect(prune({ 'prune-prefix': 'shop-pr-', 'prune-after': '7d' }).prune).toEqual({ prefix: 'shop-pr-', keep: [], afterSeconds: 7 * 86_400 });
    expect(prune({ 'prune-prefix': 'shop-pr-', 'prune-after': '1d12h' }).prune?.afterSeconds).toBe(36 * 3600);
    // Other commands ignore the prune inputs.
    expect(read({ 'prune-prefix': 'shop-pr-' }).prune).toBeUndefined();
  });

  it.each([
    { given: {}, input: 'prune-prefix', says: 'is required' },
    { given: { 'prune-prefix': 'Shop PR' }, input: 'prune-prefix', says: "'Shop PR' must be the start of app names" },
    { given: { 'prune-prefix': 's' }, input: 'prune-prefix', says: 'at least 2 characters' },
    { given: { 'prune-prefix': 'shop-pr-', keep: 'shop-pr-1 ../etc' }, input: 'keep', says: "'../etc' is not an app name" },
    { given: { 'prune-prefix': 'shop-pr-', 'prune-after': 'a week' }, input: 'prune-after', says: 'at most 3650d' },
    { given: { 'prune-prefix': 'shop-pr-', 'prune-after': '30s' }, input: 'prune-after', says: 'at least 60s' },
  ])('refuses $input: $says', ({ given, input, says }) => {
    const error = inputErrorOf({ command: 'prune', image: '', ...(given as Record<string, string>) });
    expect(error.input).toBe(input);
    expect(error.message).toContain(says);
  });

  it('is for engine docker only, for now', () => {
    expect(inputErrorOf({ command: 'prune', image: '', 'prune-prefix': 'shop-pr-', engine: 'swarm' }).message).toContain('prune is for engine: docker for now (with engine: swarm');
  });
});
