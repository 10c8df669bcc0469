// engine: compose: the app's compose files read on the runner, the services sorted into the web one
// (blue/green behind the proxy), workers (the other services of the app's image, in the slots too)
// and accessories (every other service: compose's own, kept up with docker compose up -d). Pure: the
// files come through a reader, so tests give them as text.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { parseDocument } from 'yaml';
import { InputError, type InputReader, boolean, hasControlChars, lines } from './read';
import type { WorkerConfig } from './config';

/** A file's text by its path on the runner (relative to the workspace); undefined when it does not exist. */
export type FileReader = (path: string) => string | undefined;

export interface ComposeFile {
  path: string; // relative to the project directory (the first compose file's)
  text: string;
}

export interface ComposeConfig {
  /** The compose files, relative to the project directory, in the order compose merges them. */
  composeFiles: string[];
  /** Every file the server keeps under the app's state: the compose files, then the env, secret and config files (secrets). */
  files: ComposeFile[];
  /** The web service, routed by the proxy in the BLUE/GREEN slots ('' with web: false). */
  service: string;
  /** The other services, compose's own: started and kept up with docker compose up -d. */
  accessories: { service: string; image: string }[];
  /** remove: the project's named volumes go too. */
  removeVolumes: boolean;
  /** What shapes the services run from the app's image: when it changes, a deploy starts them again. */
  appHash: string;
}

/** The oldest Compose v2 the engine takes (docker compose up --wait-timeout, run --label): checked on the runner and in the script. */
export const COMPOSE_MIN_VERSION = '2.20';

/** What a deploy reads when compose-file is not given, in compose's own order. */
export const DEFAULT_COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
/** Merged over the default file when it exists, as docker compose does. */
const DEFAULT_OVERRIDES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'];
const MAX_FILE_BYTES = 1024 * 1024;
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const MAX_REPLICAS = 20;

type Service = Record<string, unknown>;
type Project = { services: Record<string, Service>; top: Record<string, unknown> };

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A path as the project keeps it: relative to the project directory, never outside it. PATH is
 * relative to the project directory (a file a compose file names), or with fromWorkspace to the
 * workspace (compose-file).
 */
function projectPath(input: string, base: string, path: string, what: string, fromWorkspace = false): string {
  if (hasControlChars(path) || path.trim() === '') throw new InputError(input, `${what} has an empty path or control characters`);
  const inside = posix.normalize(posix.relative(base, fromWorkspace ? posix.normalize(path) : posix.join(base, path)));
  if (posix.isAbsolute(path) || inside.startsWith('..') || inside === '.') {
    throw new InputError(input, `${what} '${path.slice(0, 100)}' is outside the project directory (${base || '.'}): the server gets only the files under it`);
  }
  return inside;
}

function readText(files: FileReader, input: string, path: string, what: string): string {
  const text = files(path);
  if (text === undefined) throw new InputError(input, `${what} ${path} does not exist on the runner (is the repository checked out?)`);
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new InputError(input, `${what} ${path} is over 1 MiB`);
  return text;
}

function parseFile(input: string, path: string, text: string): Record<string, unknown> {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new InputError(input, `${path} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isMap(value)) throw new InputError(input, `${path} is not a compose file (a mapping with services)`);
  return value;
}

/** The files merged as compose merges them, service by service (a later file's keys win). */
function mergeProject(input: string, parsed: { path: string; value: Record<string, unknown> }[]): Project {
  const services: Record<string, Service> = {};
  const top: Record<string, unknown> = {};
  for (const { path, value } of parsed) {
    if ('include' in value) throw new InputError(input, `${path} uses include: list every file in compose-file instead`);
    for (const [key, entry] of Object.entries(value)) {
      if (key === 'services') continue;
      top[key] = isMap(top[key]) && isMap(entry) ? { ...top[key], ...entry } : entry;
    }
    if (value.services === undefined || value.services === null) continue;
    if (!isMap(value.services)) throw new InputError(input, `${path}: services is not a mapping`);
    for (const [name, service] of Object.entries(value.services)) {
      if (!SERVICE_NAME.test(name)) throw new InputError(input, `${path}: service '${hasControlChars(name) ? '?' : name.slice(0, 40)}' is not a name compose takes`);
      if (!isMap(service)) throw new InputError(input, `${path}: service ${name} is not a mapping`);
      if (isMap(service.extends) && 'file' in service.extends) throw new InputError(input, `${path}: service ${name} extends a service of another file: merge the files in compose-file instead`);
      services[name] = { ...(services[name] ?? {}), ...service };
    }
  }
  if (Object.keys(services).length === 0) throw new InputError(input, 'the compose files define no service');
  return { services, top };
}

/** env_file, as a string or a list of strings or {path, required}. */
function envFilesOf(service: Service): { path: string; required: boolean }[] {
  const value = service.env_file;
  const list = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
  return list.map((entry) => (isMap(entry) ? { path: String(entry.path ?? ''), required: entry.required !== false } : { path: String(entry), required: true }));
}

function replicasOf(input: string, name: string, service: Service): number {
  const deploy = isMap(service.deploy) ? service.deploy : {};
  const value = deploy.replicas ?? service.scale ?? 1;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_REPLICAS) {
    throw new InputError(input, `service ${name}: replicas ${String(value).slice(0, 20)} is not a number of containers from 1 to ${MAX_REPLICAS}`);
  }
  return value as number;
}

/** An image reference without its tag or digest: shop:1.2 and shop are the same repository. */
export function repositoryOf(image: string): string {
  const name = image.split('@')[0];
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

/** A service runs the app's image when its image is the deployed image's repository, with any tag (or none). */
const runsAppImage = (service: Service, image: string): boolean => typeof service.image === 'string' && repositoryOf(service.image) === repositoryOf(image);

/** The service the proxy routes to: compose-service, or the only one whose image is the deployed image's. */
function webServiceOf(read: InputReader, project: Project, image: string): string {
  const given = read('compose-service').trim();
  const names = Object.keys(project.services);
  if (given !== '') {
    if (!(given in project.services)) throw new InputError('compose-service', `'${hasControlChars(given) ? '?' : given.slice(0, 64)}' is not a service of the compose files (${names.join(', ')})`);
    return given;
  }
  const candidates = names.filter((name) => runsAppImage(project.services[name], image));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) throw new InputError('compose-service', `no service has image: ${repositoryOf(image)}: give the web service the proxy routes to (one of ${names.join(', ')})`);
  throw new InputError('compose-service', `several services run ${repositoryOf(image)} (${candidates.join(', ')}): give the web service the proxy routes to (the others are its workers)`);
}

/**
 * engine: compose, for a deploy: the compose files and everything they name that the server needs,
 * the web service, the workers (the other services of the deployed image) and the accessories.
 */
export function readCompose(read: InputReader, image: string, web: boolean, files: FileReader): { compose: ComposeConfig; workers: WorkerConfig[]; secretEntries: string[] } {
  const given = lines(read('compose-file').replace(/[ \t]+/g, '\n'));
  let paths = given;
  if (paths.length === 0) {
    const found = DEFAULT_COMPOSE_FILES.find((path) => files(path) !== undefined);
    if (!found) throw new InputError('compose-file', `none of ${DEFAULT_COMPOSE_FILES.join(', ')} is in the workspace: give compose-file (is the repository checked out?)`);
    const override = DEFAULT_OVERRIDES.find((path) => files(path) !== undefined);
    paths = override ? [found, override] : [found];
  }
  const base = posix.dirname(posix.normalize(paths[0]));
  const composeFiles = paths.map((path, index) => (index === 0 ? posix.basename(path) : projectPath('compose-file', base, path, 'compose file', true)));
  if (new Set(composeFiles).size !== composeFiles.length) throw new InputError('compose-file', 'names a file twice');
  const texts = paths.map((path) => readText(files, 'compose-file', path, 'compose file'));
  const project = mergeProject(
    'compose-file',
    texts.map((text, index) => ({ path: paths[index], value: parseFile('compose-file', paths[index], text) })),
  );
  const service = web ? webServiceOf(read, project, image) : '';
  const active = Object.entries(project.services).filter(([, definition]) => definition.profiles === undefined);
  const appServices = active.filter(([name, definition]) => name === service || runsAppImage(definition, image));
  const workers: WorkerConfig[] = [];
  const accessories: ComposeConfig['accessories'] = [];
  for (const [name, definition] of active) {
    const ofApp = appServices.some(([appName]) => appName === name);
    if (ofApp && definition.container_name !== undefined) {
      throw new InputError(
        'compose-file',
        `service ${name} runs the app's image and sets container_name: a deploy runs the new version beside the old one, which one fixed name does not allow: remove it`,
      );
    }
    if (ofApp && name !== service) workers.push({ name, replicas: replicasOf('compose-file', name, definition), words: [] });
    if (ofApp) continue;
    if (typeof definition.image !== 'string' || definition.image.trim() === '') {
      throw new InputError('compose-file', `service ${name} has no image (the server builds nothing): give it image: ${repositoryOf(image)} to run the app's image, or the image it runs`);
    }
    accessories.push({ service: name, image: definition.image });
  }
  if (!web && workers.length === 0) throw new InputError('web', `false means the app is only workers: no service of the compose files has image: ${repositoryOf(image)}`);

  // The files they name: env files (also of accessories), file-based secrets and configs, and .env.
  const extra = new Map<string, string>();
  const keep = (path: string, what: string, required: boolean) => {
    const inside = projectPath('compose-file', base, path, what);
    if (extra.has(inside) || composeFiles.includes(inside)) return;
    const onRunner = posix.join(base, inside);
    if (!required && files(onRunner) === undefined) return;
    extra.set(inside, readText(files, 'compose-file', onRunner, what));
  };
  for (const [name, definition] of active) for (const file of envFilesOf(definition)) keep(file.path, `service ${name}: env_file`, file.required);
  for (const kind of ['secrets', 'configs'] as const) {
    const entries = project.top[kind];
    if (!isMap(entries)) continue;
    for (const [name, entry] of Object.entries(entries)) if (isMap(entry) && typeof entry.file === 'string') keep(entry.file, `${kind} ${name}: file`, true);
  }
  keep('.env', '.env', false);

  const secretEntries = [...extra.values()].flatMap((text) =>
    text
      .split(/\r?\n/)
      .filter((line) => /^\s*[A-Za-z_][A-Za-z0-9_.-]*\s*=/.test(line))
      .map((line) => line.trim()),
  );
  const appHash = createHash('sha256')
    .update(JSON.stringify([Object.fromEntries(appServices), project.top, [...extra.entries()].sort()]))
    .digest('hex')
    .slice(0, 16);
  const compose: ComposeConfig = {
    composeFiles,
    files: [...composeFiles.map((path, index) => ({ path, text: texts[index] })), ...[...extra.entries()].map(([path, text]) => ({ path, text }))],
    service,
    accessories,
    removeVolumes: boolean(read, 'remove-volumes'),
    appHash,
  };
  return { compose, workers, secretEntries };
}

/** engine: compose, for every other command: the files stay the server's; only remove-volumes and compose-service count. */
export function composeWithoutFiles(read: InputReader): ComposeConfig {
  const service = read('compose-service').trim();
  if (service !== '' && !SERVICE_NAME.test(service)) throw new InputError('compose-service', `'${hasControlChars(service) ? '?' : service.slice(0, 64)}' is not a service name`);
  return { composeFiles: [], files: [], service, accessories: [], removeVolumes: boolean(read, 'remove-volumes'), appHash: '' };
}
