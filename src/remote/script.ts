import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BARRIER_GO, BARRIER_LINE, LABEL_PREFIX, OUTCOMES, RESULT_BEGIN, RESULT_END, RESULT_VERSION, SCRIPT_EXIT } from './result';
import { join } from 'node:path';
import type { Command, Config, DeployConfig, WorkerConfig } from '../inputs/config';
import { type CanaryConfig, type Judgement, LATENCY_GRACE_MS } from '../inputs/canary';
import { CONFIG_TAG_REPOSITORY, configTag } from '../image/server-images';
import type { RecordedInput } from '../inputs/settings';
import { shellQuote } from './shell';
import { COMPOSE_MIN_VERSION } from '../inputs/compose';
import type { PemSource, TlsConfig } from '../inputs/tls';

/** What one run of the server-side script needs beyond the validated config. */
/** What the server script is asked to do: a command, or a deploy's release phase (run before the rollout). */
export type ScriptCommand = Command | 'release';

export interface ScriptInput {
  command: ScriptCommand;
  deploy: DeployConfig;
  image: string; // the reference, e.g. myapp:1.2 ('' for commands that send none)
  imageId: string; // the config digest, sha256:... ('' for commands that send none)
  serverImageId: string; // what the server's image store calls it (the config digest on the classic store)
  gitSha: string;
  runUrl: string;
  /** All at once: once healthy, wait at most this long for the runner's word before switching (0: do not wait). */
  barrierSeconds?: number;
  /** The recorded inputs the workflow gave: rollback, status and remove refuse them where they differ from the record. */
  given?: readonly RecordedInput[];
  /** status: an app the server has never seen is not an error. */
  allowMissing?: boolean;
  /** logs: how many of the live container's last lines. */
  logsLines?: number;
  /** The app's lock is taken on the server: the plan's decision (rollout/plan.ts), one for both sides. */
  locks: boolean;
  /** release and run: the command's words and how long it may run. */
  oneOff?: { words: readonly string[]; timeoutSeconds: number };
  /** rollback: the version to go back to ('' the previous slot), and whether across a release that broke it. */
  rollbackTo?: string;
  force?: boolean;
  /** command maintenance: the page the proxy answers with. */
  maintenancePage?: string;
  /** deploy, rollout: canary: this host tries the new version on a share of its traffic first (the first host only). */
  canary?: CanaryConfig;
  /** deploy: the old slot stays routable this long after the switch, the new one judged meanwhile. */
  bake?: Config['bake'];
}

/** The server script's files, in the order they are sent (main.sh first to find; the engine's last). */
export const SCRIPT_FILES = [
  'main.sh',
  'lib.sh',
  'state.sh',
  'app-container.sh',
  'versions.sh',
  'oneoff.sh',
  'proxy.sh',
  'proxy-channel.sh',
  'proxy-config.sh',
  'routes.sh',
  'tls.sh',
  'health.sh',
  'switch.sh',
  'receipt.sh',
  'canary.sh',
  'workers.sh',
] as const;
export type EngineName = 'docker' | 'swarm' | 'compose';
/** An engine's bash files: docker and compose share the blue/green slots (slots.sh), each makes the containers its way. */
export const engineFiles = (engine: EngineName): string[] => (engine === 'swarm' ? ['engine-swarm.sh'] : ['slots.sh', `engine-${engine}.sh`]);
export const engineOf = (deploy: Pick<DeployConfig, 'swarm' | 'compose'>): EngineName => (deploy.swarm ? 'swarm' : deploy.compose ? 'compose' : 'docker');
/** What every engine file defines and the common files call (an engine is one TS module and one such file). */
export const ENGINE_FUNCTIONS = [
  'engine_check',
  'engine_network',
  'engine_live_slot',
  'engine_upstream',
  'engine_ask_ahead',
  'engine_deploy',
  'engine_release',
  'engine_start_container',
  'engine_create_oneoff',
  'engine_start_oneoff',
  'engine_rollback',
  'engine_discard',
  'engine_remove',
  'engine_status',
  'engine_logs',
  'engine_finish',
  'engine_unchanged',
  'engine_live_image',
] as const;
/**
 * The sh programs that run inside the proxy container (scripts/proxy/), each handed to the script as
 * a parameter: BG_PROXY_START_SH, BG_PROXY_RELOAD_SH, … (tls-pairs.sh is written as a file there).
 */
export const PROXY_PROGRAMS = ['start', 'reload', 'route-check', 'drain-look', 'pair-check', 'tls-pairs'] as const;

// In the bundle this is dist/scripts/; in tests, src/remote/scripts/.
const bodies = new Map<string, string>();

function shipped(name: string): string {
  let text = bodies.get(name);
  if (text === undefined) bodies.set(name, (text = readFileSync(join(__dirname, 'scripts', name), 'utf8')));
  return text;
}

/** The server script's body for an engine: its files joined, then the call of main. */
export function deployScriptBody(engine: EngineName): string {
  const files = [...SCRIPT_FILES, ...engineFiles(engine)].map((name) => `# --- ${name} ${'-'.repeat(Math.max(3, 94 - name.length))}\n${shipped(name).replace(/\n+$/, '')}`);
  // main is called last. With several hosts the runner's word to switch follows the script on standard
  // input: only the script's own bytes are read as the script (run.ts, startBashCommand).
  return `${files.join('\n\n')}\n\n# Sourced with BG_SOURCE_ONLY=1 (unit tests), it only defines its functions.\n[[ \${BG_SOURCE_ONLY:-0} == 1 ]] || main\n`;
}

/** The renewer's sh file (tls.sh writes it on the server), read once. */
export const renewScriptBody = (): string => shipped('renew.sh').replace(/\n+$/, '');

/** A program run inside the proxy, without its leading comments (they stay in the file). */
export function proxyProgram(name: (typeof PROXY_PROGRAMS)[number]): string {
  const lines = shipped(`proxy/${name}.sh`).replace(/\n+$/, '').split('\n');
  const first = lines.findIndex((line) => !line.startsWith('#'));
  return lines.slice(first).join('\n');
}

function proxyParameters(): string[] {
  return PROXY_PROGRAMS.map((name) => scalar(`BG_PROXY_${name.replace(/-/g, '_').toUpperCase()}_SH`, proxyProgram(name)));
}

/**
 * Fingerprint of everything that shapes the app's container besides its image, so a re-run with
 * the same image and settings is recognised as "unchanged" while a changed env still redeploys.
 */
export function configHash(deploy: DeployConfig): string {
  const shape: unknown[] = [deploy.env, deploy.volumes, deploy.dockerArgs, deploy.containerPort, deploy.network, deploy.hostnames, deploy.http];
  // Only when there are workers or no web, so that the hash of every app deployed before them stays.
  if (deploy.workers.length > 0 || !deploy.web) shape.push(deploy.workers, deploy.web);
  if (deploy.canonicalHost) shape.push(deploy.canonicalHost);
  if (deploy.swarm) shape.push(deploy.swarm, deploy.health, deploy.stopTimeoutSeconds);
  if (deploy.compose) shape.push('compose', deploy.compose.service, deploy.compose.appHash);
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}

/** serverUnusable -> SERVER_UNUSABLE */
function snake(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

function scalar(name: string, value: string | number): string {
  return `readonly ${name}=${shellQuote(String(value))}`;
}

function list(name: string, values: readonly string[]): string {
  return `readonly -a ${name}=(${values.map(shellQuote).join(' ')})`;
}

/** The read-only parameters the script's body works with: data only, never code. */
export function scriptParameters(input: ScriptInput): string[] {
  const { deploy } = input;
  return [
    // The result's contract, defined once (result.ts) and handed to the script.
    scalar('BG_RESULT_BEGIN', RESULT_BEGIN),
    scalar('BG_RESULT_END', RESULT_END),
    scalar('BG_RESULT_VERSION', RESULT_VERSION),
    scalar('BG_BARRIER_LINE', BARRIER_LINE),
    scalar('BG_BARRIER_GO', BARRIER_GO),
    scalar('BG_BARRIER_SECONDS', input.barrierSeconds ?? 0),
    ...Object.entries(SCRIPT_EXIT).map(([name, code]) => scalar(`BG_EXIT_${snake(name)}`, code)),
    ...OUTCOMES.map((outcome) => scalar(`BG_OUTCOME_${snake(outcome)}`, outcome)),
    scalar('BG_LABEL', LABEL_PREFIX),
    scalar('BG_COMMAND', input.command),
    scalar('BG_APP', deploy.app),
    scalar('BG_IMAGE', input.image),
    scalar('BG_IMAGE_ID', input.imageId),
    scalar('BG_SERVER_IMAGE_ID', input.serverImageId),
    scalar('BG_CONFIG_HASH', configHash(deploy)),
    scalar('BG_GIT_SHA', input.gitSha),
    scalar('BG_RUN_URL', input.runUrl),
    scalar('BG_PROXY_IMAGE', deploy.proxyImage),
    list('BG_PROXY_PORTS', deploy.proxyPorts),
    scalar('BG_ENV', deploy.env),
    list('BG_VOLUMES', deploy.volumes),
    list('BG_DOCKER_ARGS', deploy.dockerArgs),
    scalar('BG_KEEP_IMAGES', deploy.keepImages),
    scalar('BG_LOCK_TIMEOUT', deploy.lockTimeoutSeconds),
    scalar('BG_STATE_DIR', deploy.stateDir),
    scalar('BG_ALLOW_MISSING', input.allowMissing ? 1 : 0),
    scalar('BG_LOGS_LINES', input.logsLines ?? 100),
    scalar('BG_LOG_MAX_SIZE', deploy.logs.maxSize),
    scalar('BG_LOG_MAX_FILES', deploy.logs.maxFiles),
    list('BG_ONEOFF_WORDS', input.oneOff?.words ?? []),
    scalar('BG_ONEOFF_TIMEOUT', Math.ceil(input.oneOff?.timeoutSeconds ?? 0)),
    scalar('BG_TAKES_LOCK', input.locks ? 1 : 0),
    scalar('BG_ROLLBACK_TO', input.rollbackTo ?? ''),
    scalar('BG_FORCE', input.force ? 1 : 0),
    scalar('BG_WORKER_FIELD_END', WORKER_FIELD_END),
    scalar('BG_MAINTENANCE_PAGE', input.maintenancePage ?? ''),
    ...settingParameters(input),
    ...tlsParameters(deploy.tls),
    ...swarmParameters(input),
    ...composeParameters(input.deploy),
    ...trialParameters(input),
    ...proxyParameters(),
  ];
}

/** The nginx variable a canary-header names: $http_x_canary for X-Canary, $cookie_beta for cookie: beta. */
export function canaryMatchVariable(canary: CanaryConfig | undefined): string {
  const match = canary?.match;
  if (!match) return '';
  return match.kind === 'cookie' ? `cookie_${match.name}` : `http_${match.name.toLowerCase().replace(/-/g, '_')}`;
}

/** rollout: canary and bake-seconds, in the integers bash works with (a percent of an error rate in hundredths). */
function trialParameters(input: ScriptInput): string[] {
  const { canary, bake } = input;
  const judgement: Judgement | undefined = canary ?? bake;
  const latency = judgement?.maxLatency;
  return [
    scalar('BG_CANARY_PERCENT', canary?.percent ?? 0),
    scalar('BG_CANARY_MS', Math.round((canary?.seconds ?? 0) * 1000)),
    scalar('BG_CANARY_ON_LOW_TRAFFIC', canary?.onLowTraffic ?? 'revert'),
    scalar('BG_CANARY_MATCH_VAR', canaryMatchVariable(canary)),
    scalar('BG_CANARY_MATCH_VALUE', canary?.match?.value ?? ''),
    scalar('BG_BAKE_MS', Math.round((bake?.seconds ?? 0) * 1000)),
    scalar('BG_JUDGE_MAX_ERROR_BP', Math.round((judgement?.maxErrorPercent ?? 0) * 100)),
    scalar('BG_JUDGE_LATENCY_RATIO_PCT', latency && 'ratio' in latency ? Math.round(latency.ratio * 100) : 0),
    scalar('BG_JUDGE_LATENCY_MS', latency && 'ms' in latency ? latency.ms : 0),
    scalar('BG_JUDGE_LATENCY_GRACE_MS', LATENCY_GRACE_MS),
    scalar('BG_JUDGE_MIN_REQUESTS', judgement?.minRequests ?? 1),
  ];
}

/**
 * The recorded settings as the script's variables, by the input each comes from. A deploy records
 * them on the server; rollback, status and remove load the record over them (state.sh,
 * load_settings), which is why they are not read-only until then.
 */
export function settingVariables(deploy: DeployConfig): Record<RecordedInput, Record<string, string | number | readonly string[]>> {
  const { health, http } = deploy;
  return {
    hostname: { BG_HOSTNAMES: deploy.hostnames },
    network: { BG_NETWORK: deploy.network },
    'proxy-name': { BG_PROXY_NAME: deploy.proxyName },
    'container-port': { BG_CONTAINER_PORT: deploy.containerPort },
    'health-path': { BG_HEALTH_PATH: health.path },
    'health-status': { BG_HEALTH_STATUS: health.status ?? '' },
    'health-successes': { BG_HEALTH_SUCCESSES: health.successes },
    'health-interval': { BG_HEALTH_INTERVAL: health.intervalSeconds, BG_HEALTH_INTERVAL_MS: Math.round(health.intervalSeconds * 1000) },
    'health-timeout': { BG_HEALTH_TIMEOUT_MS: Math.round(health.timeoutSeconds * 1000) },
    'health-try-timeout': { BG_HEALTH_TRY_TIMEOUT: Math.max(1, Math.ceil(health.tryTimeoutSeconds)) },
    'health-port': { BG_HEALTH_PORT: health.port ?? '' },
    'health-command': { BG_HEALTH_COMMAND: health.command ?? [] },
    'max-body-size': { BG_MAX_BODY_SIZE: http.maxBodySize },
    'proxy-timeout': { BG_PROXY_TIMEOUT: Math.ceil(http.timeoutSeconds) },
    'proxy-buffering': { BG_PROXY_BUFFERING: http.buffering ? 'on' : 'off' },
    'trusted-proxies': { BG_TRUSTED_PROXIES: http.trustedProxies },
    tls: { BG_TLS: deploy.tls.mode },
    'tls-redirect': { BG_TLS_REDIRECT: deploy.tls.redirect ? 1 : 0 },
    // Seconds as given for the log lines; milliseconds for bash's integer arithmetic (2.5s is 2500).
    'drain-seconds': { BG_DRAIN_SECONDS: deploy.drainSeconds, BG_DRAIN_MS: Math.round(deploy.drainSeconds * 1000) },
    'drain-long-lived': { BG_DRAIN_LONG_LIVED: Math.ceil(deploy.drainLongLivedSeconds) },
    'stop-timeout': { BG_STOP_TIMEOUT: Math.ceil(deploy.stopTimeoutSeconds) },
    workers: { BG_WORKERS: deploy.workers.map(workerSpec) },
    'worker-grace': { BG_WORKER_GRACE_MS: Math.round(deploy.workerGraceSeconds * 1000) },
    web: { BG_WEB: deploy.web ? 1 : 0 },
    'canonical-host': { BG_CANONICAL_HOST: deploy.canonicalHost },
    'path-prefix': { BG_PATH_PREFIX: deploy.pathPrefix },
    'strip-prefix': { BG_STRIP_PREFIX: deploy.stripPrefix ? 1 : 0 },
    'compose-service': { BG_COMPOSE_SERVICE: deploy.compose?.service ?? '' },
  };
}

/** The field that ends each part of a worker's spec (never in a command word: control characters are refused). */
export const WORKER_FIELD_END = '\x1f';

/** A worker as the script gets it: name, replicas, then the command's words, each ended by WORKER_FIELD_END. */
export function workerSpec(worker: WorkerConfig): string {
  return [worker.name, String(worker.replicas), ...worker.words].map((field) => field + WORKER_FIELD_END).join('');
}

function settingParameters(input: ScriptInput): string[] {
  const lines: string[] = [];
  const byInput: string[] = [];
  for (const [name, variables] of Object.entries(settingVariables(input.deploy))) {
    byInput.push(`${name}:${Object.keys(variables).join(' ')}`);
    for (const [variable, value] of Object.entries(variables)) {
      lines.push(Array.isArray(value) ? `${variable}=(${value.map(shellQuote).join(' ')})` : `${variable}=${shellQuote(String(value))}`);
    }
  }
  return [...lines, list('BG_SETTING_INPUTS', byInput), list('BG_GIVEN', input.given ?? [])];
}

function swarmParameters(input: ScriptInput): string[] {
  const swarm = input.deploy.swarm;
  if (!swarm) return [];
  return [
    scalar('BG_REPLICAS', swarm.replicas),
    scalar('BG_SWARM_ENV', swarm.env),
    // The service's image: a tag naming the exact version on every node it was sent to (a reused tag
    // like :latest would make Swarm's rollback start the new version again).
    scalar('BG_SWARM_IMAGE', input.imageId ? configTag(input.imageId) : ''),
    scalar('BG_CONFIG_TAG_REPOSITORY', CONFIG_TAG_REPOSITORY),
  ];
}

/** engine compose: the files a deploy brings (paths relative to the project directory) and the accessories. */
function composeParameters(deploy: DeployConfig): string[] {
  const compose = deploy.compose;
  if (!compose) return [];
  return [
    list('BG_COMPOSE_FILES', compose.composeFiles),
    list(
      'BG_COMPOSE_PATHS',
      compose.files.map((file) => file.path),
    ),
    list(
      'BG_COMPOSE_TEXTS',
      compose.files.map((file) => file.text),
    ),
    list(
      'BG_COMPOSE_ACCESSORIES',
      compose.accessories.map((accessory) => accessory.service),
    ),
    list(
      'BG_COMPOSE_ACCESSORY_IMAGES',
      compose.accessories.map((accessory) => accessory.image),
    ),
    scalar('BG_REMOVE_VOLUMES', compose.removeVolumes ? 1 : 0),
    scalar('BG_COMPOSE_MIN_VERSION', COMPOSE_MIN_VERSION),
  ];
}

function tlsParameters(tls: TlsConfig): string[] {
  const text = (source: PemSource | undefined) => (source?.kind === 'text' ? source.pem : '');
  const path = (source: PemSource | undefined) => (source?.kind === 'path' ? source.path : '');
  const acme = tls.acme;
  const renewer = tls.acme ? renewScriptBody() : '';
  return [
    scalar('BG_TLS_CERT_PEM', text(tls.certificate)),
    scalar('BG_TLS_KEY_PEM', text(tls.key)),
    scalar('BG_TLS_CERT_PATH', path(tls.certificate)),
    scalar('BG_TLS_KEY_PATH', path(tls.key)),
    scalar('BG_ACME_IMAGE', acme?.image ?? ''),
    scalar('BG_ACME_EMAIL', acme?.email ?? ''),
    scalar('BG_ACME_DIRECTORY', acme?.directory ?? ''),
    scalar('BG_ACME_EAB_KID', acme?.eab?.kid ?? ''),
    scalar('BG_ACME_EAB_HMAC', acme?.eab?.hmac ?? ''),
    scalar('BG_ACME_CA', acme?.serverCa?.trim() ?? ''),
    scalar('BG_RENEW_SH', renewer),
    scalar('BG_RENEW_HASH', renewer ? createHash('sha256').update(renewer).digest('hex').slice(0, 16) : ''),
  ];
}

/** The whole script sent to bash (run.ts, startBashCommand): a shebang, the parameters, then the bash file. */
export function renderDeployScript(input: ScriptInput): string {
  return [
    '#!/usr/bin/env bash',
    '# Generated by bluegreen-action: parameters of this run. They are data: nothing in them expands.',
    '# shellcheck disable=SC2016,SC2088',
    "# shellcheck disable=SC2034 # every engine's parameters; each engine reads its own",
    '{',
    ...scriptParameters(input),
    '}',
    '',
    deployScriptBody(engineOf(input.deploy)),
  ].join('\n');
}
