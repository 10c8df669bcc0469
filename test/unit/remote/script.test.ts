import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { planOf } from '../../../src/rollout/plan';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_FUNCTIONS, SCRIPT_FILES, engineFiles, renderDeployScript, scriptParameters, configHash } from '../../../src/remote/script';
import { readerFor } from '../../helpers/action-inputs';
import { baseInputs, composeWorkspace, filesOf } from '../../helpers/fixtures';

type Scripted = 'deploy' | 'rollback' | 'remove' | 'status' | 'run' | 'release' | 'maintenance';

function scriptFor(given: Record<string, string>, command: Scripted = 'deploy'): string {
  const config = readConfig(readerFor({ ...baseInputs(), command: command === 'release' ? 'deploy' : command, ...given }), { files: filesOf(composeWorkspace()) });
  return renderDeployScript({
    command,
    locks: planOf(config).locks,
    oneOff: command === 'release' ? config.release : config.oneOff,
    rollbackTo: config.rollbackTo,
    force: config.force,
    maintenancePage: config.maintenancePage,
    deploy: config.deploy,
    image: config.image,
    imageId: 'sha256:' + 'ab'.repeat(32),
    serverImageId: 'sha256:' + 'cd'.repeat(32),
    gitSha: '0123456789abcdef',
    runUrl: 'https://github.com/o/r/actions/runs/1',
  });
}

const combos: Array<[string, Record<string, string>, Scripted]> = [
  ['defaults', {}, 'deploy'],
  [
    'everything set',
    {
      hostname: 'shop.example.com *.preview.example.com',
      env: 'A=1\nB=two words\nC=$(rm -rf /)',
      volumes: 'data:/data\n/srv/x y:/x:ro',
      'docker-args': '--memory=512m\n--cpus 1.5',
      'proxy-ports': '80:80\n127.0.0.1:8443:443',
      'health-status': '204',
      'health-interval': '500ms',
      'drain-seconds': '2.5',
    },
    'deploy',
  ],
  ['tls own', { hostname: 'shop.example.com', tls: 'own', 'tls-certificate': '/etc/ssl/shop.pem', 'tls-key': '/etc/ssl/shop.key' }, 'deploy'],
  ['tls acme', { hostname: 'shop.example.com www.example.com', tls: 'acme', 'acme-email': 'ops@example.com', 'acme-eab-kid': 'kid-1', 'acme-eab-hmac': 'c2VjcmV0' }, 'deploy'],
  ['rollback', {}, 'rollback'],
  ['remove', { hostname: 'a.example.com' }, 'remove'],
  ['status', {}, 'status'],
  ['swarm deploy', { engine: 'swarm', replicas: '3', env: 'A=1\nB=two words', volumes: 'data:/data\n/srv/x:/x:ro', 'health-status': '204' }, 'deploy'],
  ['swarm env secret', { engine: 'swarm', 'swarm-env': 'secret', env: 'A=1' }, 'deploy'],
  ['swarm rollback', { engine: 'swarm' }, 'rollback'],
  ['compose deploy', { engine: 'compose', 'compose-service': 'web', env: 'A=1' }, 'deploy'],
  ['compose release', { engine: 'compose', 'compose-service': 'web', 'release-command': 'bin/migrate' }, 'release'],
  ['compose remove', { engine: 'compose', 'remove-volumes': 'true' }, 'remove'],
  ['swarm remove', { engine: 'swarm' }, 'remove'],
  ['swarm status', { engine: 'swarm' }, 'status'],
  ['release', { 'release-command': "sh -c 'bin/migrate && echo $(date)'", volumes: 'data:/data' }, 'release'],
  ['swarm release', { engine: 'swarm', 'release-command': 'bin/migrate' }, 'release'],
  ['run', { 'run-command': 'bin/rails runner "puts 1"', 'run-lock': 'false' }, 'run'],
  ['rollback-to', { 'rollback-to': 'abc1234', force: 'true' }, 'rollback'],
  ['health-port', { 'health-port': '9090' }, 'deploy'],
  ['health-command', { 'health-command': "sh -c 'test -e /ready'" }, 'deploy'],
  ['workers', { workers: 'jobs*2: sh -c \'run "x y"\'\nmail: mailer', 'worker-grace': '2s' }, 'deploy'],
  ['workers only', { web: 'false', workers: 'queue: consume' }, 'rollback'],
  ['maintenance', { hostname: 'a.example www.a.example', 'canonical-host': 'a.example', 'maintenance-page': '<p>it\'s "down" $(id)</p>' }, 'maintenance'],
  ['path-prefix', { hostname: 'a.example', 'path-prefix': '/api/v1.0', 'strip-prefix': 'true' }, 'deploy'],
];

describe('the generated deploy script', () => {
  // Asynchronous: a minute of back-to-back synchronous shellchecks starves vitest's worker of its
  // event loop, and its report to the main process times out ("Timeout calling onTaskUpdate").
  it.concurrent.each(combos)(
    'passes shellcheck: %s',
    async (_name, given, command) => {
      const script = scriptFor(given, command);
      const check = await new Promise<{ error?: NodeJS.ErrnoException; code: number; output: string }>((resolve) => {
        const child = spawn('shellcheck', ['-s', 'bash', '-S', 'style', '-']);
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.on('error', (error) => resolve({ error, code: -1, output }));
        child.on('close', (code) => resolve({ code: code ?? -1, output }));
        child.stdin.end(script);
      });
      expect(check.error, 'shellcheck must be installed (test/server/up.sh installs it)').toBeUndefined();
      expect(check.output).toBe('');
      expect(check.code).toBe(0);
    },
    90_000,
  ); // several at once on 2 cores: one alone takes about 8 s

  it.each(combos)('is valid bash: %s', (_name, given, command) => {
    execFileSync('bash', ['-n'], { input: scriptFor(given, command) });
  });

  it('carries hostile values as data: bash reads back exactly what was given', () => {
    const env = 'X=a\'; echo pwned; \'\nY=$(id) `id` "q" \\ end';
    const script = scriptFor({ env, 'health-path': '/h?x=$(id)&y=`id`' });
    const header = script.slice(0, script.indexOf('# The server side of bluegreen-action'));
    const out = execFileSync('bash', ['-c', `${header}\nprintf '%s\\n---\\n%s' "$BG_ENV" "$BG_HEALTH_PATH"`], { encoding: 'utf8' });
    expect(out).toBe(`${env}\n---\n/h?x=$(id)&y=\`id\``);
  });

  it('carries the one-off command word by word, exactly as given, and nothing of it runs', () => {
    const command = 'sh -c \'echo "$(id)"; touch /tmp/pwned-by-words\' "a b" \'\nline\' `id` $HOME';
    const script = scriptFor({ 'run-command': command, 'rollback-to': '' }, 'run');
    const header = script.slice(0, script.indexOf('# The server side of bluegreen-action'));
    const out = execFileSync('bash', ['-c', `${header}\nprintf '<%s>' "\${BG_ONEOFF_WORDS[@]}"; printf '|%s|%s' "$BG_ONEOFF_TIMEOUT" "$BG_TAKES_LOCK"`], { encoding: 'utf8' });
    expect(out).toBe('<sh><-c><echo "$(id)"; touch /tmp/pwned-by-words><a b><\nline><`id`><$HOME>|3600|1');
    expect(existsSync('/tmp/pwned-by-words')).toBe(false);
  });

  it('puts lists into bash arrays word by word', () => {
    const config = readConfig(readerFor({ ...baseInputs(), volumes: '/srv/a b:/a\nc:/c', 'docker-args': '--cpus 1.5' }));
    const params = scriptParameters({ command: 'deploy', locks: true, deploy: config.deploy, image: 'x:1', imageId: '', serverImageId: '', gitSha: '', runUrl: '' });
    const out = execFileSync('bash', ['-c', `${params.join('\n')}\nprintf '<%s>' "\${BG_VOLUMES[@]}" "\${BG_DOCKER_ARGS[@]}"`], { encoding: 'utf8' });
    expect(out).toBe('</srv/a b:/a><c:/c><--cpus><1.5>');
  });

  it('changes the config hash when env changes, not when only health settings do', () => {
    const a = readConfig(readerFor({ ...baseInputs(), env: 'A=1' })).deploy;
    const b = readConfig(readerFor({ ...baseInputs(), env: 'A=2' })).deploy;
    const c = readConfig(readerFor({ ...baseInputs(), env: 'A=1', 'health-path': '/ready' })).deploy;
    expect(configHash(a)).not.toBe(configHash(b));
    expect(configHash(a)).toBe(configHash(c));
  });
});

describe('engines as plug-ins: one bash file each, the same functions', () => {
  const read = (file: string) => readFileSync(join(__dirname, '../../../src/remote/scripts', file), 'utf8');
  const defined = (text: string) => [...text.matchAll(/^(engine_[a-z_]+)\(\) \{/gm)].map((m) => m[1]).sort();

  it.each(['docker', 'swarm', 'compose'] as const)('engine-%s.sh defines every engine function, and only those of the interface', (engine) => {
    expect(defined(read(`engine-${engine}.sh`))).toEqual([...ENGINE_FUNCTIONS].sort());
  });

  it('docker and compose share the slots, which define no engine function; swarm has its own file only', () => {
    expect(engineFiles('docker')).toEqual(['slots.sh', 'engine-docker.sh']);
    expect(engineFiles('compose')).toEqual(['slots.sh', 'engine-compose.sh']);
    expect(engineFiles('swarm')).toEqual(['engine-swarm.sh']);
    expect(defined(read('slots.sh'))).toEqual([]);
    const compose = scriptFor({ engine: 'compose', 'compose-file': 'compose.yaml', 'compose-service': 'web' });
    expect(compose.indexOf('# --- slots.sh')).toBeLessThan(compose.indexOf('# --- engine-compose.sh'));
    expect(compose).not.toContain('# --- engine-docker.sh');
    expect(compose).not.toContain('swarm_deploy()');
  });

  it.each(SCRIPT_FILES)('%s, common to every engine, defines no engine function and never names an engine', (file) => {
    const text = read(file);
    expect(defined(text)).toEqual([]);
    const code = text.split('\n').filter((line) => !line.trimStart().startsWith('#'));
    expect(code.filter((line) => /BG_ENGINE|swarm|service_facts|cmd_deploy|cmd_rollback/.test(line))).toEqual([]);
  });

  it("ends with the call of main and one newline: what follows on its stdin is the runner's word", () => {
    expect(scriptFor({})).toMatch(/\n\[\[ \$\{BG_SOURCE_ONLY:-0\} == 1 \]\] \|\| main\n$/);
    expect(scriptFor({ engine: 'swarm' })).toMatch(/\|\| main\n$/);
  });

  it('the rendered script holds the chosen engine only', () => {
    const docker = scriptFor({});
    const swarm = scriptFor({ engine: 'swarm' });
    expect(docker).toContain('# --- engine-docker.sh');
    expect(docker).not.toContain('engine-swarm.sh ---');
    expect(docker).not.toContain('swarm_deploy()');
    expect(swarm).toContain('# --- engine-swarm.sh');
    expect(swarm).not.toContain('cmd_deploy()');
    expect(docker.indexOf('\nmain() {')).toBeLessThan(docker.indexOf('\nfail() {'));
  });
});
