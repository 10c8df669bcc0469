// The app's settings that a deploy records on the server, so that rollback, status and remove act
// on the routing, port, TLS and health check the app was deployed with, not on their own inputs.
import type { InputReader } from './read';

/**
 * The recorded inputs and their defaults. action.yml leaves these inputs empty, so that a value the
 * workflow gave can be told from a default: a rollback uses the record where an input was not given,
 * and refuses one that was given and differs from the record.
 */
export const RECORDED_DEFAULTS = {
  hostname: '',
  network: 'bluegreen',
  'proxy-name': 'bluegreen-proxy',
  'container-port': '8080',
  'health-path': '/',
  'health-status': '',
  'health-successes': '2',
  'health-interval': '1s',
  'health-timeout': '60s',
  'health-try-timeout': '5s',
  'health-port': '',
  'health-command': '',
  'max-body-size': '100m',
  'proxy-timeout': '5m',
  'proxy-buffering': 'false',
  'trusted-proxies': '',
  tls: 'off',
  'tls-redirect': 'true',
  'drain-seconds': '30',
  'drain-long-lived': '5',
  'stop-timeout': '30s',
  workers: '',
  'worker-grace': '5s',
  web: 'true',
  'canonical-host': '',
  'path-prefix': '/',
  'strip-prefix': 'false',
  'compose-service': '',
} as const;

export type RecordedInput = keyof typeof RECORDED_DEFAULTS;

export const RECORDED_INPUTS = Object.keys(RECORDED_DEFAULTS) as RecordedInput[];

const isRecorded = (name: string): name is RecordedInput => name in RECORDED_DEFAULTS;

/** The reader the config is parsed with: a recorded input that was not given reads as its default. */
export function withRecordedDefaults(read: InputReader): InputReader {
  return (name) => {
    const value = read(name);
    return isRecorded(name) && value.trim() === '' ? RECORDED_DEFAULTS[name] : value;
  };
}

/** The recorded inputs the workflow gave (not left empty). */
export function givenRecordedInputs(read: InputReader): RecordedInput[] {
  return RECORDED_INPUTS.filter((name) => read(name).trim() !== '');
}

/** The container port when container-port was not given: the image's only exposed TCP port, else the default. */
export function defaultContainerPort(exposedPorts: readonly string[]): { port: number; why: string } {
  const tcp = exposedPorts.filter((spec) => /^\d+(\/tcp)?$/.test(spec)).map((spec) => Number(spec.split('/')[0]));
  const unique = [...new Set(tcp)];
  const fallback = Number(RECORDED_DEFAULTS['container-port']);
  if (unique.length === 1) return { port: unique[0], why: `the image's EXPOSE ${unique[0]}` };
  if (unique.length === 0) return { port: fallback, why: `the default; the image exposes no port` };
  return { port: fallback, why: `the default; the image exposes ${unique.join(', ')}: give container-port to choose one` };
}

/**
 * A deploy's container port and env once the image is known: without container-port, the image's
 * only exposed port; the app gets PORT (the port it is checked and routed on) unless env sets it.
 */
export function portOfImage(deploy: { containerPort: number; env: string }, given: readonly RecordedInput[], exposedPorts: readonly string[]): { containerPort: number; env: string; note: string } {
  const chosen = given.includes('container-port') ? { port: deploy.containerPort, why: 'container-port' } : defaultContainerPort(exposedPorts);
  const setsPort = deploy.env.split('\n').some((line) => line.startsWith('PORT='));
  const env = setsPort ? deploy.env : [deploy.env, `PORT=${chosen.port}`].filter(Boolean).join('\n');
  return { containerPort: chosen.port, env, note: `container port ${chosen.port} (${chosen.why})${setsPort ? '' : `; the app gets PORT=${chosen.port}`}` };
}
