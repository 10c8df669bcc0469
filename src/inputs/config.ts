import type { RunContext } from './context';
import { APP_NAME, IMAGE_REF, InputError, type InputReader, bodySize, boolean, cidrs, dockerName, duration, hasControlChars, integer, lines, logSize, oneOf, required, words } from './read';
import { type RecordedInput, givenRecordedInputs, withRecordedDefaults } from './settings';
import { readSsh } from './ssh';
import { WordsError, commandWords } from './words';
import { type TlsConfig, readTls } from './tls';
import { type ComposeConfig, type FileReader, composeWithoutFiles, readCompose } from './compose';
import { type CanaryConfig, type Judgement, readCanary, readJudgement } from './canary';
import type { SshConfig } from '../ssh/session';

export type Command = 'deploy' | 'rollback' | 'remove' | 'status' | 'logs' | 'run' | 'maintenance' | 'live' | 'prune';
export const COMMANDS: readonly Command[] = ['deploy', 'rollback', 'remove', 'status', 'logs', 'run', 'maintenance', 'live', 'prune'];

/** What the proxy answers (with 503) while an app is in maintenance and no maintenance-page is given. */
export const DEFAULT_MAINTENANCE_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Down for maintenance</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1>Down for maintenance</h1>
<p>We are working on this site and will be back shortly. Please try again in a few minutes.</p>
</body>
</html>`;
const MAINTENANCE_PAGE_MAX = 256 * 1024;

/** A command line run once in a fresh container of the app's image (release phase, command run). */
export interface OneOffCommand {
  words: string[]; // what follows the image in docker run: the image's entrypoint applies
  timeoutSeconds: number; // then the container is stopped and removed, and the run fails
}

/** With several hosts: rolling (max-parallel at a time) or all at once (all healthy, then all switched). */
export type Rollout = 'rolling' | 'all-at-once' | 'canary';

export interface BuildConfig {
  mode: 'auto' | 'always' | 'never';
  context: string;
  dockerfile?: string;
  buildArgs: string[]; // KEY=VALUE
  target?: string;
}

export interface HealthConfig {
  path: string;
  status?: number; // undefined: any 2xx or 3xx
  successes: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  tryTimeoutSeconds: number;
  /** health-port: check this port instead of the one served (container-port). */
  port?: number;
  /** health-command: run in the candidate instead of the HTTP check; healthy when it exits 0. */
  command?: string[];
}

/** How the proxy carries the app's traffic (WebSockets and HTTP/1.1 to the app always). */
export interface HttpConfig {
  maxBodySize: string; // nginx size: 100m, 512k, 0 (no limit)
  timeoutSeconds: number; // read and send timeout towards the app (also an idle WebSocket's)
  buffering: boolean; // buffer the app's responses (off: streamed as they come, e.g. server-sent events)
  trustedProxies: string[]; // addresses (CIDR) whose X-Forwarded-For/-Proto are believed
}

/** workers: one line NAME[*N]: COMMAND, a process run from the app's image beside the web one, with no route. */
export interface WorkerConfig {
  name: string; // lower-case letters, digits and '-': part of its containers' names
  replicas: number; // containers of it per version (NAME*N)
  words: string[]; // what follows the image in docker run: the image's entrypoint applies
}

/** Everything the server-side script needs; it becomes the script's read-only parameters. */
export interface DeployConfig {
  app: string;
  hostnames: string[];
  network: string;
  proxyName: string;
  proxyImage: string;
  proxyPorts: string[];
  containerPort: number;
  env: string; // KEY=VALUE lines, validated; secret
  volumes: string[];
  dockerArgs: string[]; // argv words
  health: HealthConfig;
  http: HttpConfig;
  tls: TlsConfig;
  drainSeconds: number; // requests that end by themselves
  drainLongLivedSeconds: number; // WebSockets and event streams
  stopTimeoutSeconds: number;
  keepImages: number;
  lockTimeoutSeconds: number;
  stateDir: string;
  /** The app containers' log files (json-file and local drivers): bounded so request logs cannot fill the disk. */
  logs: { maxSize: string; maxFiles: number };
  /** engine: swarm: the app is a Swarm service run from a manager (undefined: containers on each host). */
  swarm?: SwarmConfig;
  /** engine: compose: the app is a compose project; its web service and workers go blue/green. */
  compose?: ComposeConfig;
  /** Processes from the app's image beside the web one (engine docker): started with each version, switched with it. */
  workers: WorkerConfig[];
  /** A worker without a HEALTHCHECK counts as started when it still runs after this long. */
  workerGraceSeconds: number;
  /** web: false: no web process (workers only): no proxy config, no HTTP check. */
  web: boolean;
  /** Requests for the app's other host names get a 308 to this one ('' none). */
  canonicalHost: string;
  /** The app gets only requests under this path ('/': all), so apps share a host name by path. */
  pathPrefix: string;
  /** The prefix is removed from the path before the request reaches the app. */
  stripPrefix: boolean;
}

/** How the app runs as a Docker Swarm service. */
export interface SwarmConfig {
  replicas: number;
  /** variables: env as the service's environment; secret: a Docker secret file, never in the service spec. */
  env: 'variables' | 'secret';
}

export interface Config {
  command: Command;
  image: string;
  /** One per line of the `host` input, in its order; the key, the pinned host keys and the limits are shared. */
  hosts: SshConfig[];
  /** With several hosts: rolling (max-parallel at a time) or all at once (all healthy, then all switched). */
  rollout: Rollout;
  /** With several hosts, rolling: how many are deployed at a time. */
  maxParallel: number;
  /** rollout: canary (deploy): the new version tried on a share of the first host's traffic, promoted or reverted by its numbers. */
  canary?: CanaryConfig;
  /** deploy: after the full switch the old slot stays routable this long, and the new one is switched back if it fails (0 none). */
  bake?: { seconds: number } & Judgement;
  build: BuildConfig;
  deploy: DeployConfig;
  /** The recorded settings' inputs the workflow gave (rollback, status and remove use the record for the rest). */
  given: RecordedInput[];
  /** status: an app the server has never seen is not an error. */
  allowMissing: boolean;
  /** logs: how many of the live container's last lines. */
  logsLines: number;
  /** Values that must never appear in a log, output or summary. */
  secrets: string[];
  /** deploy: run once, before the new version gets traffic (release-command); a failure stops the deploy. */
  release?: OneOffCommand;
  /** command run: the one-off command (run-command), under the app's lock unless run-lock is false. */
  oneOff?: OneOffCommand & { lock: boolean };
  /** command rollback: the version to go back to (rollback-to), '' for the previous slot. */
  rollbackTo: string;
  /** rollback: also across a release that broke the version before it. */
  force: boolean;
  /** command maintenance: the HTML the proxy answers with (503) until command live. */
  maintenancePage: string;
  /** command prune: which apps are removed (each as command remove removes one). */
  prune?: PruneRule;
}

/**
 * command prune: the apps whose name starts with `prefix` are removed when they are not in `keep`
 * (when keep names any), or their last deploy is older than `afterSeconds` (when given); with
 * neither, every app under the prefix. An app outside the prefix is never touched.
 */
export interface PruneRule {
  prefix: string;
  keep: string[];
  afterSeconds?: number;
}

/**
 * What the inputs need of the workflow's context: the repository names an app left unnamed; engine
 * compose reads its compose files (paths relative to the workspace).
 */
type InputContext = Pick<RunContext, 'repository'> & { files?: FileReader };

/** Env values shorter than this are not masked in logs and summaries. */
export const MIN_SECRET_LENGTH = 6;

const HOSTNAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const PUBLISH_SPEC = /^((\d{1,3}\.){3}\d{1,3}:|\[[0-9a-fA-F:]+\]:)?(\d{1,5}:)?\d{1,5}(\/(tcp|udp))?$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FORBIDDEN_DOCKER_ARGS = ['--name', '--network', '--net', '--restart', '--rm', '-d', '--detach', '-p', '--publish', '-P', '--publish-all', '--env-file', '-i', '-t', '--interactive', '--tty'];

/** The forbidden option a docker-args word sets, also when short flags are attached (-p8080:80) or bundled (-tP). */
function forbiddenDockerOption(name: string): string | undefined {
  if (FORBIDDEN_DOCKER_ARGS.includes(name)) return name;
  if (/^-[^-]/.test(name)) {
    // docker reads -p8080:80 as -p 8080:80 and -tP as -t -P: any forbidden letter in the bundle counts.
    for (const letter of name.slice(1)) if (FORBIDDEN_DOCKER_ARGS.includes(`-${letter}`)) return `-${letter}`;
  }
  return undefined;
}

/** Docker's own networks have no name resolution between containers (or no isolation): refused. */
const BUILTIN_NETWORKS = ['bridge', 'host', 'none'];

function appNetwork(read: InputReader): string {
  const network = dockerName(read, 'network');
  if (BUILTIN_NETWORKS.includes(network)) {
    throw new InputError('network', `'${network}' is one of Docker's built-in networks, where the proxy cannot reach the app by name: name one of your own (default bluegreen)`);
  }
  return network;
}

function defaultAppName(context: InputContext): string {
  const repo = context.repository?.split('/').pop() ?? '';
  return repo
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '');
}

function readBuild(read: InputReader): BuildConfig {
  const mode = { auto: 'auto', true: 'always', false: 'never' } as const;
  const buildArgs = lines(read('build-args'));
  buildArgs.forEach((arg, index) => {
    // Never echo the value: build arguments often carry tokens.
    if (!arg.includes('=')) throw new InputError('build-args', `entry ${index + 1} has no '=': write one KEY=VALUE per line`);
    if (!ENV_KEY.test(arg.split('=')[0])) throw new InputError('build-args', `entry ${index + 1} has a key that is not a variable name (letters, digits, _)`);
  });
  return {
    mode: mode[oneOf(read, 'build', ['auto', 'true', 'false'] as const)],
    context: read('context').trim() || '.',
    dockerfile: read('dockerfile').trim() || undefined,
    buildArgs,
    target: read('target').trim() || undefined,
  };
}

const SECRET_KEY = /PASS|PWD|SECRET|TOKEN|KEY|PRIVATE|CREDENTIAL|AUTH/i;
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:([^/@\s]+)@/i;

/**
 * The values of KEY=VALUE entries to keep out of logs and the job summary. Long values are secrets;
 * short ones (true, info, 8080) only under a secret-sounding key, or every "info" in every log would
 * turn into ***. A URL's password (postgres://app:pw@db/app) is one of its own, however short.
 */
export function secretValues(entries: readonly string[]): string[] {
  const found: string[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq < 0) continue;
    const key = entry.slice(0, eq);
    const value = entry.slice(eq + 1);
    if (value.length >= MIN_SECRET_LENGTH || (SECRET_KEY.test(key) && value.length >= 3)) found.push(value);
    const password = value.match(URL_PASSWORD)?.[1];
    if (password && password.length >= 3) found.push(password);
  }
  return found;
}

/**
 * One line of env as people paste it from a .env file: `export KEY=VALUE`, or a value wholly in
 * double or single quotes (the quotes removed, nothing inside expanded; a ` # comment` after the
 * closing quote dropped). Any other value is taken exactly as given. Returns KEY=VALUE as the app
 * gets it. Never echoes the line: it may be a secret.
 */
export function dotenvEntry(line: string, index: number): string {
  const entry = line.replace(/^export\s+/, '');
  const eq = entry.indexOf('=');
  if (eq < 0) throw new InputError('env', `entry ${index + 1} has no '=': write one KEY=VALUE per line (export KEY=VALUE and quoted values are accepted too)`);
  const key = entry.slice(0, eq).trim();
  if (!ENV_KEY.test(key)) throw new InputError('env', `entry ${index + 1} has a key that is not a variable name (letters, digits, _)`);
  const value = entry.slice(eq + 1).trim();
  const quoted = value.match(/^(["'])(.*)\1(\s+#.*)?$/);
  return `${key}=${quoted ? quoted[2] : value}`;
}

function readEnv(read: InputReader): { text: string; entries: string[] } {
  const entries = lines(read('env')).map(dotenvEntry);
  return { text: entries.join('\n'), entries };
}

function readDockerArgs(read: InputReader): string[] {
  const words: string[] = [];
  for (const line of lines(read('docker-args'))) {
    if (!line.startsWith('-')) throw new InputError('docker-args', `'${line}' is not an option (one option per line, like --memory=512m)`);
    const space = line.search(/\s/);
    const option = space < 0 ? line : line.slice(0, space);
    const name = option.split('=')[0];
    const forbidden = forbiddenDockerOption(name);
    if (forbidden) {
      throw new InputError('docker-args', `${forbidden} is set by the action itself and cannot be changed`);
    }
    words.push(option);
    if (space >= 0) words.push(line.slice(space).trim());
  }
  return words;
}

function readHealth(read: InputReader): HealthConfig {
  const path = required(read, 'health-path');
  if (!path.startsWith('/') || /\s/.test(path) || hasControlChars(path)) {
    throw new InputError('health-path', `expected a path starting with '/' and without spaces, got '${path}'`);
  }
  const statusText = read('health-status').trim();
  return {
    path,
    status: statusText === '' ? undefined : integer(read, 'health-status', 100, 599),
    successes: integer(read, 'health-successes', 1, 100),
    intervalSeconds: duration(read, 'health-interval', 0.1),
    timeoutSeconds: duration(read, 'health-timeout', 1),
    tryTimeoutSeconds: duration(read, 'health-try-timeout', 1),
    port: read('health-port').trim() === '' ? undefined : integer(read, 'health-port', 1, 65535),
    command: (() => {
      const words = readCommandWords(read, 'health-command');
      return words.length > 0 ? words : undefined;
    })(),
  };
}

export const ENGINES = ['docker', 'swarm', 'compose'] as const;
const engineOf = (read: InputReader) => oneOf(read, 'engine', ENGINES);

/**
 * engine: compose: the services come from the compose files (a deploy reads them on the runner;
 * every other command acts on what the server keeps). What docker run options would say, the
 * compose file says.
 */
function readComposeEngine(read: InputReader, command: Command, image: string, context: InputContext): { compose: ComposeConfig; workers: WorkerConfig[]; secretEntries: string[] } | undefined {
  if (engineOf(read) !== 'compose') {
    for (const name of ['compose-file', 'compose-service']) if (read(name).trim() !== '') throw new InputError(name, 'is for engine: compose');
    return undefined;
  }
  for (const name of ['volumes', 'docker-args', 'workers']) {
    if (read(name).trim() !== '')
      throw new InputError(
        name,
        `is for engine: docker; with engine: compose, give ${name === 'workers' ? "each worker as a service of the compose file with the app's image" : "it in the compose file's service"}`,
      );
  }
  if (command !== 'deploy') return { compose: composeWithoutFiles(read), workers: [], secretEntries: [] };
  if (!context.files) throw new InputError('compose-file', 'cannot be read here (no workspace)');
  return readCompose(read, image, boolean(read, 'web'), context.files);
}

/** engine: swarm: a Swarm service (docker-args are docker run options a service does not take). */
function readSwarm(read: InputReader, dockerArgs: readonly string[], rollout: Rollout): SwarmConfig | undefined {
  if (engineOf(read) !== 'swarm') return undefined;
  if (dockerArgs.length > 0) {
    throw new InputError('docker-args', 'these are docker run options, which a Swarm service does not take (engine: swarm): remove them');
  }
  for (const name of ['health-port', 'health-command']) {
    if (read(name).trim() !== '') throw new InputError(name, "is for engine: docker; with engine: swarm the health check is the service's HEALTHCHECK on health-path");
  }
  if (read('workers').trim() !== '') throw new InputError('workers', 'are for engine: docker; with engine: swarm, deploy each worker as a service of its own');
  if (!boolean(read, 'web')) throw new InputError('web', 'false is for engine: docker (a workers-only app); with engine: swarm the service is the web process');
  if (rollout !== 'rolling') {
    throw new InputError('rollout', 'with engine: swarm, Swarm rolls the service out itself (start-first, one task at a time): leave rollout at rolling');
  }
  return { replicas: integer(read, 'replicas', 1, 100), env: oneOf(read, 'swarm-env', ['variables', 'secret'] as const) };
}

function readDeploy(read: InputReader, context: InputContext, env: string, command: Command, rollout: Rollout, image: string): DeployConfig & { secretEntries: string[] } {
  const appText = read('app').trim() || defaultAppName(context);
  if (appText === '') throw new InputError('app', 'is required outside GitHub Actions (no GITHUB_REPOSITORY to name it after)');
  if (!APP_NAME.test(appText)) {
    throw new InputError('app', `'${appText}' must be lower-case letters, digits, '_', '.' or '-' (at most 63)`);
  }
  // Host names are case-insensitive; ACME clients and nginx's server_name want them in lower case.
  const hostnames = [...new Set(words(read('hostname')).map((name) => name.toLowerCase()))];
  for (const name of hostnames) {
    if (!HOSTNAME.test(name)) throw new InputError('hostname', `'${name}' is not a host name`);
  }
  const proxyImage = required(read, 'proxy-image');
  if (!IMAGE_REF.test(proxyImage)) throw new InputError('proxy-image', `'${proxyImage}' is not an image reference`);
  const proxyPorts = lines(read('proxy-ports'));
  if (proxyPorts.length === 0) throw new InputError('proxy-ports', 'give at least one port to publish, like 80:80');
  for (const spec of proxyPorts) {
    if (!PUBLISH_SPEC.test(spec)) throw new InputError('proxy-ports', `'${spec}' is not a docker --publish spec like 80:80 or 127.0.0.1:8080:80`);
  }
  const dockerArgs = readDockerArgs(read);
  const volumes = lines(read('volumes'));
  for (const volume of volumes) {
    if (!volume.includes(':') || hasControlChars(volume)) throw new InputError('volumes', `'${volume}' is not a --volume spec like data:/data or /srv/x:/x:ro`);
  }
  const stateDir = required(read, 'state-dir');
  if (!(stateDir === '~' || stateDir.startsWith('~/') || stateDir.startsWith('/')) || hasControlChars(stateDir)) {
    throw new InputError('state-dir', `expected an absolute path or one under ~/, got '${stateDir}'`);
  }
  const composed = readComposeEngine(read, command, image, context);
  return {
    app: appText,
    hostnames,
    network: appNetwork(read),
    proxyName: dockerName(read, 'proxy-name'),
    proxyImage,
    proxyPorts,
    containerPort: integer(read, 'container-port', 1, 65535),
    env,
    volumes,
    dockerArgs,
    health: readHealth(read),
    http: {
      maxBodySize: bodySize(read, 'max-body-size'),
      timeoutSeconds: duration(read, 'proxy-timeout', 1),
      buffering: boolean(read, 'proxy-buffering'),
      trustedProxies: cidrs(read, 'trusted-proxies'),
    },
    tls: readTls(read, hostnames, proxyPorts, command),
    drainSeconds: duration(read, 'drain-seconds'),
    drainLongLivedSeconds: duration(read, 'drain-long-lived'),
    stopTimeoutSeconds: duration(read, 'stop-timeout'),
    keepImages: integer(read, 'keep-images', 1, 100),
    lockTimeoutSeconds: duration(read, 'lock-timeout'),
    stateDir,
    logs: { maxSize: logSize(read, 'log-max-size'), maxFiles: integer(read, 'log-max-files', 1, 100) },
    swarm: readSwarm(read, dockerArgs, rollout),
    compose: composed?.compose,
    ...readProcesses(read, hostnames, composed?.workers),
    secretEntries: composed?.secretEntries ?? [],
    canonicalHost: readCanonicalHost(read, hostnames),
    ...readPathPrefix(read),
  };
}

const PATH_PREFIX = /^(\/[A-Za-z0-9._~-]+)+$/;

/** path-prefix: '/' or segments of URL-safe characters, no '.' or '..' segment; a trailing '/' is dropped. */
function readPathPrefix(read: InputReader): Pick<DeployConfig, 'pathPrefix' | 'stripPrefix'> {
  const text = read('path-prefix').trim();
  const prefix = text.length > 1 ? text.replace(/\/+$/, '') : text;
  const stripPrefix = boolean(read, 'strip-prefix');
  if (prefix === '/') {
    if (stripPrefix) throw new InputError('strip-prefix', 'removes path-prefix from the path, and path-prefix is /: give a path-prefix like /api');
    return { pathPrefix: prefix, stripPrefix };
  }
  const shown = hasControlChars(prefix) ? '?' : prefix.slice(0, 80);
  if (!PATH_PREFIX.test(prefix) || prefix.length > 100 || prefix.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new InputError('path-prefix', `'${shown}' is not a path like /api: '/' then segments of letters, digits, '.', '_', '~' or '-' (at most 100 characters)`);
  }
  if (prefix.startsWith('/__bluegreen') || prefix.startsWith('/.well-known/acme-challenge')) throw new InputError('path-prefix', `'${shown}' is a path the proxy keeps for itself`);
  if (!boolean(read, 'web')) throw new InputError('path-prefix', 'an app without a web process (web: false) gets no route: leave path-prefix out');
  if (read('engine').trim() === 'swarm') throw new InputError('path-prefix', 'is for engine: docker');
  return { pathPrefix: prefix, stripPrefix };
}

function readCanonicalHost(read: InputReader, hostnames: readonly string[]): string {
  const name = read('canonical-host').trim().toLowerCase();
  if (name === '') return '';
  if (!hostnames.includes(name))
    throw new InputError('canonical-host', `'${hasControlChars(name) ? '?' : name.slice(0, 80)}' is not one of hostname's names: give one of ${hostnames.join(', ') || '(none: give hostname)'}`);
  if (name.startsWith('*.')) throw new InputError('canonical-host', `'${name}' is a wildcard: redirects need one exact host name`);
  if (hostnames.length < 2) throw new InputError('canonical-host', 'needs at least two names in hostname: the others redirect to it');
  return name;
}

function readMaintenancePage(read: InputReader, command: Command): string {
  if (command !== 'maintenance') return '';
  const page = read('maintenance-page');
  if (page.trim() === '') return DEFAULT_MAINTENANCE_PAGE;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(page)) throw new InputError('maintenance-page', 'contains control characters');
  if (Buffer.byteLength(page) > MAINTENANCE_PAGE_MAX) throw new InputError('maintenance-page', `is over ${MAINTENANCE_PAGE_MAX / 1024} KiB`);
  return page;
}

const WORKER_LINE = /^([a-z0-9][a-z0-9-]{0,29})(\*\d+)?\s*:(.*)$/;

/** workers: NAME[*N]: COMMAND lines, one worker each. Never echoes a command (it may carry a secret). */
export function readWorkers(read: InputReader): WorkerConfig[] {
  const workers: WorkerConfig[] = [];
  lines(read('workers')).forEach((line, index) => {
    const match = WORKER_LINE.exec(line);
    if (!match) {
      const name = line.split(':')[0].trim();
      const why = line.includes(':') ? `its name '${hasControlChars(name) ? '?' : name.slice(0, 40)}' is not lower-case letters, digits and '-' (at most 30), with *N for N containers` : "has no ':'";
      throw new InputError('workers', `line ${index + 1} ${why}: write NAME: COMMAND, e.g. jobs: bundle exec sidekiq`);
    }
    const [, name, times, command] = match;
    const replicas = times ? Number(times.slice(1)) : 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 20) throw new InputError('workers', `${name}: *${times.slice(1)} is not a number of containers from 1 to 20`);
    if (workers.some((worker) => worker.name === name)) throw new InputError('workers', `${name} is named twice`);
    const words = commandWordsOf('workers', command, `${name}: `);
    if (words.length === 0) throw new InputError('workers', `${name} has no command: write ${name}: COMMAND`);
    workers.push({ name, replicas, words });
  });
  return workers;
}

function readProcesses(read: InputReader, hostnames: readonly string[], composeWorkers?: WorkerConfig[]): Pick<DeployConfig, 'workers' | 'workerGraceSeconds' | 'web'> {
  const workers = composeWorkers ?? readWorkers(read);
  const web = boolean(read, 'web');
  if (!web && workers.length === 0 && !composeWorkers) throw new InputError('web', 'false means the app is only workers: give them in workers (NAME: COMMAND lines)');
  if (!web && hostnames.length > 0) throw new InputError('hostname', 'an app without a web process (web: false) gets no route: leave hostname out');
  if (!web && read('tls').trim() !== 'off') throw new InputError('tls', 'an app without a web process (web: false) serves nothing: leave tls off');
  return { workers, workerGraceSeconds: duration(read, 'worker-grace'), web };
}

/** A command line input as the words the container gets; '' when not given. */
function readCommandWords(read: InputReader, name: string): string[] {
  return commandWordsOf(name, read(name));
}

function commandWordsOf(input: string, text: string, what = ''): string[] {
  // Newlines and tabs are how a command is written; other control characters are a paste gone wrong.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) throw new InputError(input, `${what}contains control characters`);
  try {
    return commandWords(text);
  } catch (error) {
    if (error instanceof WordsError) throw new InputError(input, `${what}${error.message}`);
    throw error;
  }
}

function readRelease(read: InputReader, command: Command): OneOffCommand | undefined {
  // Only a deploy runs it (a workflow may share its inputs with its rollback job).
  if (command !== 'deploy') return undefined;
  const words = readCommandWords(read, 'release-command');
  if (words.length === 0) return undefined;
  return { words, timeoutSeconds: duration(read, 'release-timeout', 1) };
}

function readOneOff(read: InputReader, command: Command): (OneOffCommand & { lock: boolean }) | undefined {
  if (command !== 'run') return undefined;
  const words = readCommandWords(read, 'run-command');
  if (words.length === 0) throw new InputError('run-command', 'is required with command: run (the command line to run, e.g. bin/rails db:migrate:status)');
  return { words, timeoutSeconds: duration(read, 'run-timeout', 1), lock: boolean(read, 'run-lock') };
}

/** A version as rollback-to names it: an image ID (or its first hex digits), an image reference, a commit SHA, or a run. */
const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._/:@#?=&+-]{0,511}$/;

function readRollbackTo(read: InputReader, command: Command, swarm: boolean): string {
  const name = read('rollback-to').trim();
  if (name === '' || command !== 'rollback') return '';
  if (!VERSION_NAME.test(name)) throw new InputError('rollback-to', `'${name}' is not an image ID, image reference, commit SHA or run URL`);
  if (swarm) throw new InputError('rollback-to', 'with engine: swarm, rollback returns the service to its previous version (Swarm keeps one); rollback-to is for engine: docker');
  return name;
}

/** command prune: prune-prefix (required), keep, prune-after. */
function readPrune(read: InputReader, command: Command, engine: Pick<DeployConfig, 'swarm' | 'compose'>): PruneRule | undefined {
  if (command !== 'prune') return undefined;
  const prefix = required(read, 'prune-prefix');
  if (!/^[a-z0-9][a-z0-9_.-]{1,61}$/.test(prefix)) {
    throw new InputError('prune-prefix', `'${prefix}' must be the start of app names (lower-case letters, digits, '_', '.' or '-'; at least 2 characters), such as shop-pr-`);
  }
  if (engine.swarm || engine.compose) throw new InputError('command', `prune is for engine: docker for now (with engine: ${engine.swarm ? 'swarm' : 'compose'}, remove each app with command: remove)`);
  const keep = [...new Set(words(read('keep')))];
  const bad = keep.find((name) => !APP_NAME.test(name));
  if (bad !== undefined) throw new InputError('keep', `'${bad}' is not an app name (lower-case letters, digits, '_', '.' or '-')`);
  const afterSeconds = read('prune-after').trim() === '' ? 0 : duration(read, 'prune-after', 60, 3650 * 86400);
  return { prefix, keep, afterSeconds: afterSeconds > 0 ? afterSeconds : undefined };
}

/** rollout: canary and bake-seconds: a deploy's trials of the new version on real traffic, for a web app behind the proxy. */
function readTrial(read: InputReader, command: Command, rollout: Rollout, deploy: Pick<DeployConfig, 'web' | 'swarm'>): Pick<Config, 'canary' | 'bake'> {
  const bakeSeconds = duration(read, 'bake-seconds');
  if (command !== 'deploy') return {};
  for (const [name, used] of [
    ['rollout', rollout === 'canary'],
    ['bake-seconds', bakeSeconds > 0],
  ] as const) {
    if (!used) continue;
    const what = name === 'rollout' ? 'rollout: canary' : 'bake-seconds';
    if (!deploy.web) throw new InputError(name, `${what} judges the requests the proxy sends to the new version: this app has web: false`);
    if (deploy.swarm) throw new InputError(name, `${what} is for engine: docker and compose (Swarm switches the service itself)`);
  }
  return { canary: readCanary(read, rollout === 'canary'), bake: bakeSeconds > 0 ? { seconds: bakeSeconds, ...readJudgement(read) } : undefined };
}

/** Every input, parsed and validated once. Throws InputError naming the first bad input. */
export function readConfig(raw: InputReader, context: InputContext = {}): Config {
  const given = givenRecordedInputs(raw);
  const read = withRecordedDefaults(raw);
  const command = oneOf(read, 'command', COMMANDS);
  const hosts = readSsh(read);
  const ssh = hosts[0];
  const env = readEnv(read);
  // command run: an image given is sent and the one-off runs in it (else in the live version's).
  const image = command === 'deploy' ? required(read, 'image') : read('image').trim();
  if (image !== '' && !IMAGE_REF.test(image)) throw new InputError('image', `'${image}' is not an image reference like myapp:1.2`);
  // Values from ${{ secrets.* }} are masked by the runner anyway; these catch the rest.
  const build = readBuild(read);
  const rollout = oneOf(read, 'rollout', ['rolling', 'all-at-once', 'canary'] as const);
  const { secretEntries, ...deploy } = readDeploy(read, context, env.text, command, rollout, image);
  const { tls } = deploy;
  const tlsSecrets = [tls.key?.kind === 'text' ? tls.key.pem.trim() : '', tls.acme?.eab?.hmac ?? ''];
  const secrets = [
    ssh.privateKey.trim(),
    ssh.passphrase ?? '',
    ssh.jump?.privateKey.trim() ?? '',
    ...secretValues(env.entries),
    ...secretValues(build.buildArgs),
    ...secretValues(secretEntries),
    ...tlsSecrets,
  ].filter(Boolean);
  const maxParallel = integer(read, 'max-parallel', 1, 100);
  const allowMissing = boolean(read, 'allow-missing');
  const logsLines = integer(read, 'logs-lines', 1, 10_000);
  const release = readRelease(read, command);
  const oneOff = readOneOff(read, command);
  const rollbackTo = readRollbackTo(read, command, deploy.swarm !== undefined);
  const force = boolean(read, 'force');
  const maintenancePage = readMaintenancePage(read, command);
  if ((command === 'maintenance' || command === 'live') && !deploy.web) throw new InputError('command', `${command} is for apps with a web process (this one has web: false)`);
  if ((command === 'maintenance' || command === 'live') && deploy.swarm) throw new InputError('command', `${command} is for engine: docker for now (with engine: swarm, not yet tried end to end)`);
  const { canary, bake } = readTrial(read, command, rollout, deploy);
  const prune = readPrune(read, command, deploy);
  return { command, image, hosts, rollout, maxParallel, canary, bake, build, deploy, given, allowMissing, logsLines, secrets, release, oneOff, rollbackTo, force, maintenancePage, prune };
}
