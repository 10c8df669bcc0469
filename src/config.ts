import { utils as sshUtils } from 'ssh2';
import type { RunContext } from './context';
import { parseDuration } from './duration';
import { HostKeyPolicy, parseKnownHosts } from './hostkey';
import { type HostTarget, USER_NAME, parseHosts } from './hosts';
import { LETS_ENCRYPT, LETS_ENCRYPT_STAGING, PemSource, TlsConfig, certificateProblem } from './tls';
import { type RecordedInput, givenRecordedInputs, withRecordedDefaults } from './settings';

export type Command = 'deploy' | 'rollback' | 'remove' | 'status' | 'logs';

export interface SshConfig {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  passphrase?: string;
  hostKey: HostKeyPolicy;
  connectTimeoutSeconds: number;
  connectRetries: number;
  /** The jump host (proxy-jump) the connection goes through, with its own key and pinned host key. */
  jump?: SshConfig;
}

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
}

/** How the proxy carries the app's traffic (WebSockets and HTTP/1.1 to the app always). */
export interface HttpConfig {
  maxBodySize: string; // nginx size: 100m, 512k, 0 (no limit)
  timeoutSeconds: number; // read and send timeout towards the app (also an idle WebSocket's)
  buffering: boolean; // buffer the app's responses (off: streamed as they come, e.g. server-sent events)
  trustedProxies: string[]; // addresses (CIDR) whose X-Forwarded-For/-Proto are believed
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
  /** The first of `hosts` (the only one, for most users). */
  ssh: SshConfig;
  /** With several hosts: rolling (max-parallel at a time) or all at once (all healthy, then all switched). */
  rollout: 'rolling' | 'all-at-once';
  /** With several hosts, rolling: how many are deployed at a time. */
  maxParallel: number;
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
}

/** A bad input: names the input so the user knows which line of the workflow to fix. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super(`Input '${input}': ${problem}`);
    this.name = 'InputError';
  }
}

/** Reads one raw input by its name in action.yml (GitHub has already filled in the defaults). */
export type InputReader = (name: string) => string;

/** What the inputs need of the workflow's context: the repository names an app left unnamed. */
type InputContext = Pick<RunContext, 'repository'>;

/** Env values shorter than this are not masked in logs and summaries. */
export const MIN_SECRET_LENGTH = 6;

const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const IMAGE_REF = /^(?![-.:/])[A-Za-z0-9._/:@-]+(?<![-.:/@])$/;
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

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

function hasControlChars(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text);
}

function integer(read: InputReader, name: string, min: number, max: number): number {
  const text = read(name).trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InputError(name, `expected a whole number from ${min} to ${max}, got '${text}'`);
  }
  return Number(text);
}

/** One day: longer is a typo, and the server script's arithmetic (milliseconds in 64 bits) stays exact. */
const MAX_DURATION_SECONDS = 86_400;

function duration(read: InputReader, name: string, min = 0): number {
  const text = read(name).trim();
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < min || seconds > MAX_DURATION_SECONDS) {
    throw new InputError(name, `expected a duration such as 90, 90s, 2m or 1m30s (${min > 0 ? `at least ${min}s, ` : ''}at most 24h), got '${text}'`);
  }
  return seconds;
}

function boolean(read: InputReader, name: string): boolean {
  const text = read(name).trim().toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(text)) return true;
  if (['false', 'no', '0', 'off', ''].includes(text)) return false;
  throw new InputError(name, `expected true or false, got '${text}'`);
}

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;
const IPV6_CIDR = /^[0-9a-f:]*:[0-9a-f:.]*(\/(12[0-8]|1[01]\d|\d?\d))?$/i;

function cidrs(read: InputReader, name: string): string[] {
  const list = read(name).split(/[\s,]+/).filter(Boolean);
  for (const item of list) {
    if (!IPV4_CIDR.test(item) && !IPV6_CIDR.test(item)) throw new InputError(name, `'${item}' is not an IP address or CIDR range such as 10.0.0.0/8`);
  }
  return list;
}

function bodySize(read: InputReader, name: string): string {
  const text = read(name).trim().toLowerCase();
  if (!/^\d{1,6}[kmg]?$/.test(text)) throw new InputError(name, `expected a size such as 100m, 512k, 2g or 0 (no limit), got '${text}'`);
  return text;
}

function logSize(read: InputReader, name: string): string {
  const text = read(name).trim().toLowerCase();
  if (!/^[1-9]\d{0,5}[kmg]$/.test(text)) throw new InputError(name, `expected a size such as 10m, 512k or 1g, got '${text}'`);
  return text;
}

function required(read: InputReader, name: string): string {
  const value = read(name).trim();
  if (value === '') throw new InputError(name, 'is required and was not given');
  return value;
}

function oneOf<T extends string>(read: InputReader, name: string, allowed: readonly T[]): T {
  const value = read(name).trim().toLowerCase();
  if (!allowed.includes(value as T)) throw new InputError(name, `expected one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

function dockerName(read: InputReader, name: string): string {
  const value = required(read, name);
  if (!DOCKER_NAME.test(value)) throw new InputError(name, `'${value}' is not a valid Docker name (letters, digits, '_', '.', '-')`);
  return value;
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
  return repo.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '');
}

function readSsh(read: InputReader): SshConfig[] {
  const user = required(read, 'user');
  if (!USER_NAME.test(user)) throw new InputError('user', `'${user}' is not a valid user name`);
  const port = integer(read, 'port', 1, 65535);
  let targets: HostTarget[];
  try {
    targets = parseHosts(required(read, 'host'), { user, port });
  } catch (error) {
    throw new InputError('host', (error as Error).message);
  }
  if (targets.length === 0) throw new InputError('host', 'names no host');
  const passphrase = read('ssh-key-passphrase') || undefined;
  const privateKey = readPrivateKey(read, 'ssh-key', passphrase);

  const knownHosts = read('known-hosts').trim();
  const fingerprint = read('host-fingerprint').trim();
  const insecure = boolean(read, 'insecure-skip-host-key-check');
  let hostKey: HostKeyPolicy;
  if (knownHosts !== '') {
    hostKey = knownHostsPolicy(read, 'known-hosts');
  } else if (fingerprint !== '') {
    if (targets.length > 1) throw new InputError('host-fingerprint', `pins one host key, and ${targets.length} hosts are given: give known-hosts with a line per host (ssh-keyscan -p PORT HOST for each)`);
    if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(fingerprint)) {
      throw new InputError('host-fingerprint', `expected 'SHA256:' and 43 base64 characters (as ssh-keygen -lf prints), got '${fingerprint}'`);
    }
    hostKey = { kind: 'fingerprint', fingerprint: fingerprint.replace(/=$/, '') };
  } else if (insecure) {
    hostKey = { kind: 'insecure' };
  } else {
    throw new InputError(
      'known-hosts',
      'the server\'s host key is not pinned: give known-hosts (e.g. from ssh-keyscan) or host-fingerprint, or set insecure-skip-host-key-check: true for a throwaway server',
    );
  }
  const limits = { connectTimeoutSeconds: duration(read, 'connect-timeout', 1), connectRetries: integer(read, 'connect-retries', 0, 20) };
  const jump = readJump(read, { user, privateKey, passphrase, hostKey }, limits);
  return targets.map(({ host, port, user }) => ({ host, port, user, privateKey, passphrase, hostKey, ...limits, jump }));
}

/** A private key input: present, PEM-shaped, readable (with the passphrase); with a final newline. */
function readPrivateKey(read: InputReader, name: string, passphrase: string | undefined): string {
  const privateKey = read(name).trim();
  if (privateKey === '') throw new InputError(name, 'is required and was not given');
  if (!/PRIVATE KEY-----/.test(privateKey)) {
    throw new InputError(name, 'does not look like a private key (expected a "-----BEGIN ... PRIVATE KEY-----" block)');
  }
  const parsed = sshUtils.parseKey(privateKey + '\n', passphrase);
  if (parsed instanceof Error) {
    const hint = !/encrypted|passphrase/i.test(parsed.message) ? '' : name === 'ssh-key' ? ' (is ssh-key-passphrase right?)' : ' (it must not be encrypted)';
    throw new InputError(name, `cannot be read: ${parsed.message}${hint}`);
  }
  return privateKey + '\n';
}

function knownHostsPolicy(read: InputReader, name: string): HostKeyPolicy {
  try {
    const entries = parseKnownHosts(read(name).trim());
    if (entries.length === 0) throw new Error('it holds no key');
    return { kind: 'known-hosts', entries };
  } catch (error) {
    throw new InputError(name, (error as Error).message);
  }
}

/**
 * proxy-jump: user@host:port of a bastion every connection goes through; its key is proxy-jump-key
 * (else ssh-key), its host key pinned by proxy-jump-known-hosts (else the servers' own pinning).
 */
function readJump(
  read: InputReader,
  servers: { user: string; privateKey: string; passphrase?: string; hostKey: HostKeyPolicy },
  limits: { connectTimeoutSeconds: number; connectRetries: number },
): SshConfig | undefined {
  const text = read('proxy-jump').trim();
  if (text === '') return undefined;
  let targets: HostTarget[];
  try {
    targets = parseHosts(text, { user: servers.user, port: 22 });
  } catch (error) {
    throw new InputError('proxy-jump', (error as Error).message);
  }
  if (targets.length !== 1) throw new InputError('proxy-jump', 'names one jump host (user@host:port)');
  const ownKey = read('proxy-jump-key').trim() !== '';
  let hostKey = servers.hostKey;
  if (read('proxy-jump-known-hosts').trim() !== '') hostKey = knownHostsPolicy(read, 'proxy-jump-known-hosts');
  else if (hostKey.kind === 'fingerprint') throw new InputError('proxy-jump-known-hosts', 'pins the jump host\'s key, which host-fingerprint (the server\'s) cannot: give its known_hosts line (ssh-keyscan -p PORT HOST)');
  return {
    ...targets[0],
    privateKey: ownKey ? readPrivateKey(read, 'proxy-jump-key', undefined) : servers.privateKey,
    passphrase: ownKey ? undefined : servers.passphrase,
    hostKey,
    ...limits,
  };
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
  };
}

/** The container port of a --publish spec (80 in 127.0.0.1:8080:80). */
function publishedContainerPort(spec: string): number {
  return Number(spec.replace(/\/(tcp|udp)$/, '').split(':').pop());
}

function pemOrPath(read: InputReader, name: string, label: string): PemSource {
  const value = read(name).trim();
  if (value === '') throw new InputError(name, `is required with tls: own (the ${label} as PEM text from a secret, or the path of a file on the server)`);
  if (value.startsWith('-----BEGIN')) return { kind: 'text', pem: value + '\n' };
  // Never echo it: a pasted key that lost its BEGIN line is still a secret.
  if (!value.startsWith('/') || /\s/.test(value) || hasControlChars(value)) {
    throw new InputError(name, `expected PEM text starting with "-----BEGIN" or an absolute path on the server without spaces`);
  }
  return { kind: 'path', path: value };
}

const ACME_TOKEN = /^[A-Za-z0-9_=+/-]{1,512}$/;

function acmeDirectory(read: InputReader): string {
  const text = read('acme-directory').trim();
  if (text === '' || text === 'production') return LETS_ENCRYPT;
  if (text === 'staging') return LETS_ENCRYPT_STAGING;
  if (!/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.test(text)) {
    throw new InputError('acme-directory', `expected an https:// directory URL, production or staging, got '${text}'`);
  }
  return text;
}

function readTls(read: InputReader, hostnames: string[], proxyPorts: string[], command: Command): TlsConfig {
  const mode = oneOf(read, 'tls', ['off', 'own', 'acme'] as const);
  const redirect = boolean(read, 'tls-redirect');
  // Only a deploy puts a certificate in place; other commands serve the one there (deploy.sh).
  if (mode === 'off' || command !== 'deploy') return { mode, redirect };
  if (!proxyPorts.some((spec) => publishedContainerPort(spec) === 443)) {
    throw new InputError('proxy-ports', `tls: ${mode} needs the proxy's port 443 published: add a line such as 443:443`);
  }
  if (mode === 'own') {
    const certificate = pemOrPath(read, 'tls-certificate', 'certificate chain');
    const key = pemOrPath(read, 'tls-key', 'private key');
    if (certificate.kind === 'text' && key.kind === 'text') {
      const problem = certificateProblem(certificate.pem, key.pem, hostnames);
      if (problem) throw new InputError('tls-certificate', problem);
    }
    return { mode, redirect, certificate, key };
  }
  if (hostnames.length === 0) throw new InputError('hostname', 'tls: acme needs the host names to get a certificate for');
  const wildcard = hostnames.find((name) => name.startsWith('*.'));
  if (wildcard) throw new InputError('hostname', `'${wildcard}' is a wildcard: an ACME HTTP-01 challenge cannot prove it; use tls: own with a wildcard certificate`);
  const email = required(read, 'acme-email');
  if (!/^[^\s@'"\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(email)) throw new InputError('acme-email', `'${email}' is not an email address`);
  const kid = read('acme-eab-kid').trim();
  const hmac = read('acme-eab-hmac').trim();
  if ((kid === '') !== (hmac === '')) throw new InputError(kid ? 'acme-eab-hmac' : 'acme-eab-kid', 'External Account Binding needs both acme-eab-kid and acme-eab-hmac');
  if (kid && !ACME_TOKEN.test(kid)) throw new InputError('acme-eab-kid', 'expected the key identifier your CA gave (letters, digits, - and _)');
  if (hmac && !ACME_TOKEN.test(hmac)) throw new InputError('acme-eab-hmac', 'expected the base64url MAC key your CA gave');
  const serverCa = read('acme-ca-certificate').trim();
  if (serverCa && !/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(serverCa)) {
    throw new InputError('acme-ca-certificate', 'expected PEM text starting with "-----BEGIN CERTIFICATE-----"');
  }
  const image = required(read, 'acme-image');
  if (!IMAGE_REF.test(image)) throw new InputError('acme-image', `'${image}' is not an image reference`);
  return {
    mode,
    redirect,
    acme: { email, directory: acmeDirectory(read), eab: kid ? { kid, hmac } : undefined, serverCa: serverCa ? serverCa + '\n' : undefined, image },
  };
}

/** engine: swarm: a Swarm service (docker-args are docker run options a service does not take). */
function readSwarm(read: InputReader): SwarmConfig | undefined {
  if (oneOf(read, 'engine', ['docker', 'swarm'] as const) === 'docker') return undefined;
  if (lines(read('docker-args')).length > 0) {
    throw new InputError('docker-args', 'these are docker run options, which a Swarm service does not take (engine: swarm): remove them');
  }
  if (oneOf(read, 'rollout', ['rolling', 'all-at-once'] as const) !== 'rolling') {
    throw new InputError('rollout', 'with engine: swarm, Swarm rolls the service out itself (start-first, one task at a time): leave rollout at rolling');
  }
  return { replicas: integer(read, 'replicas', 1, 100), env: oneOf(read, 'swarm-env', ['variables', 'secret'] as const) };
}

function readDeploy(read: InputReader, context: InputContext, env: string, command: Command): DeployConfig {
  const appText = read('app').trim() || defaultAppName(context);
  if (appText === '') throw new InputError('app', 'is required outside GitHub Actions (no GITHUB_REPOSITORY to name it after)');
  if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(appText)) {
    throw new InputError('app', `'${appText}' must be lower-case letters, digits, '_', '.' or '-' (at most 63)`);
  }
  // Host names are case-insensitive; ACME clients and nginx's server_name want them in lower case.
  const hostnames = read('hostname').split(/[\s,]+/).filter(Boolean).map((name) => name.toLowerCase());
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
  const volumes = lines(read('volumes'));
  for (const volume of volumes) {
    if (!volume.includes(':') || hasControlChars(volume)) throw new InputError('volumes', `'${volume}' is not a --volume spec like data:/data or /srv/x:/x:ro`);
  }
  const stateDir = required(read, 'state-dir');
  if (!(stateDir === '~' || stateDir.startsWith('~/') || stateDir.startsWith('/')) || hasControlChars(stateDir)) {
    throw new InputError('state-dir', `expected an absolute path or one under ~/, got '${stateDir}'`);
  }
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
    dockerArgs: readDockerArgs(read),
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
    swarm: readSwarm(read),
  };
}

/** Every host whose key is not checked (insecure-skip-host-key-check), the jump host named as such. */
export function uncheckedHosts(config: Pick<Config, 'hosts' | 'ssh'>): string[] {
  const servers = config.hosts.filter((h) => h.hostKey.kind === 'insecure').map((h) => h.host);
  const jump = config.ssh.jump;
  return jump?.hostKey.kind === 'insecure' ? [...servers, `the jump host ${jump.host}`] : servers;
}

/** Every input, parsed and validated once. Throws InputError naming the first bad input. */
export function readConfig(raw: InputReader, context: InputContext = {}): Config {
  const given = givenRecordedInputs(raw);
  const read = withRecordedDefaults(raw);
  const command = oneOf(read, 'command', ['deploy', 'rollback', 'remove', 'status', 'logs'] as const);
  const hosts = readSsh(read);
  const ssh = hosts[0];
  const env = readEnv(read);
  const image = command === 'deploy' ? required(read, 'image') : read('image').trim();
  if (image !== '' && !IMAGE_REF.test(image)) throw new InputError('image', `'${image}' is not an image reference like myapp:1.2`);
  // Values from ${{ secrets.* }} are masked by the runner anyway; these catch the rest.
  const build = readBuild(read);
  const deploy = readDeploy(read, context, env.text, command);
  const { tls } = deploy;
  const tlsSecrets = [tls.key?.kind === 'text' ? tls.key.pem.trim() : '', tls.acme?.eab?.hmac ?? ''];
  const secrets = [ssh.privateKey.trim(), ssh.passphrase ?? '', ssh.jump?.privateKey.trim() ?? '', ...secretValues(env.entries), ...secretValues(build.buildArgs), ...tlsSecrets].filter(Boolean);
  const rollout = oneOf(read, 'rollout', ['rolling', 'all-at-once'] as const);
  const maxParallel = integer(read, 'max-parallel', 1, 100);
  const allowMissing = boolean(read, 'allow-missing');
  const logsLines = integer(read, 'logs-lines', 1, 10_000);
  return { command, image, hosts, ssh, rollout, maxParallel, build, deploy, given, allowMissing, logsLines, secrets };
}
