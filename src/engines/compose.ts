import type { ImageStore, LocalImage } from '../image/local';
import { COMPOSE_MIN_VERSION, type ComposeConfig } from '../inputs/compose';
import { type HostRun, type Log, hostLog } from '../rollout/host';
import type { Engine } from './engine';

export const COMPOSE_VERSION_COMMAND = 'docker compose version --short';

/** Whether `docker compose version --short` names a version at least COMPOSE_MIN_VERSION. */
export function composeVersionOk(text: string): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(text.trim());
  if (!m) return false;
  const [major, minor] = COMPOSE_MIN_VERSION.split('.').map(Number);
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

export function composeMissing(version: string | undefined): string {
  return version === undefined
    ? "engine: compose needs Docker Compose v2 (the docker compose command) on this server, and the SSH user's docker has none: install the docker-compose-plugin package from Docker's apt repository (or docker-compose from Debian 13 or newer); nothing was changed"
    : `engine: compose needs Docker Compose ${COMPOSE_MIN_VERSION} or newer on this server, and it has ${version.slice(0, 40)}: upgrade the docker-compose-plugin package; nothing was changed`;
}

/** An accessory's image the runner can send: named plainly (compose interpolates ${…} on the server). */
export function sendableImages(compose: Pick<ComposeConfig, 'accessories'>, appImage: string): string[] {
  return [...new Set(compose.accessories.map((accessory) => accessory.image))].filter((image) => image !== appImage && !image.includes('$'));
}

/**
 * engine: compose. Every host runs the project (its own accessories too) and the web service in its
 * own two slots, like engine docker. After the app's image, each accessory image the runner has goes
 * to every host that lacks it (only the layers it lacks); the server pulls those neither has.
 */
export function composeEngine(compose: ComposeConfig): Engine {
  return {
    name: 'compose',
    connects: (hosts) => [...hosts],
    targets: (hosts) => [...hosts],
    beforeSend: (runs) => checkCompose(runs),
    afterSend: (runs, image, store, log) => sendAccessoryImages(runs, sendableImages(compose, image.reference), store, log),
    sendFailed: () => undefined,
  };
}

/** Before any image goes: every host has a Compose v2 this engine can use (the script checks again). */
async function checkCompose(runs: HostRun[]): Promise<boolean> {
  const found = await Promise.all(
    runs.map(async (run) => {
      const answer = await run.session?.exec(COMPOSE_VERSION_COMMAND);
      const version = answer && answer.code === 0 ? answer.stdout.trim() : undefined;
      if (version !== undefined && composeVersionOk(version)) return true;
      run.failed(new Error(composeMissing(version)));
      return false;
    }),
  );
  if (found.every(Boolean)) return true;
  const lacking = runs.filter((run) => run.hasFailed).map((run) => run.label);
  for (const run of runs) if (!run.hasFailed) run.notStarted(`${lacking.join(', ')} cannot run engine: compose`);
  return false;
}

async function sendAccessoryImages(runs: HostRun[], references: readonly string[], store: ImageStore, log: Log): Promise<boolean> {
  for (const reference of references) {
    const image: LocalImage | undefined = await store.inspect(reference);
    if (!image) {
      log(`${reference} is not on the runner: each server uses its own or pulls it`);
      continue;
    }
    const sent = await Promise.all(runs.map((run) => run.sendAccessory(store, image, hostLog(log, runs, run))));
    if (!sent.every(Boolean)) {
      const failed = runs.filter((run) => run.hasFailed).map((run) => run.label);
      for (const run of runs) if (!run.hasFailed) run.notStarted(`the image ${reference} did not reach ${failed.join(', ')}`);
      return false;
    }
  }
  return true;
}
