import type { ImageStore, LocalImage } from '../image/local';
import type { ComposeConfig } from '../inputs/compose';
import { type HostRun, type Log, hostLog } from '../rollout/host';
import type { Engine } from './engine';

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
    beforeSend: () => Promise.resolve(true),
    afterSend: (runs, image, store, log) => sendAccessoryImages(runs, sendableImages(compose, image.reference), store, log),
    sendFailed: () => undefined,
  };
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
