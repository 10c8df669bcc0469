import type { ImageStore, LocalImage } from '../image/local';
import type { Command } from '../inputs/config';
import type { EngineName } from '../remote/script';
import type { HostRun, Log } from '../rollout/host';

/**
 * How an app runs on its hosts. The rollout (rollout/rollout.ts) connects, sends the image, locks
 * and runs the server script the same way for every engine; an engine says only where and what
 * else: which hosts a command needs, which of them run the script (their reports are the run's),
 * and what it checks before and after the image is sent. Its server side is
 * src/remote/scripts/engine-NAME.sh (the same engine_* functions for every engine).
 */
export interface Engine {
  readonly name: EngineName;
  /** The hosts this command connects to (and, for a deploy, sends the image to). */
  connects<T>(hosts: readonly T[], command: Command): T[];
  /** The hosts the server script runs on: their reports are what the run publishes. */
  targets<T>(hosts: readonly T[]): T[];
  /** Between connecting and sending the image: false stops the run (a target's report says why). */
  beforeSend(runs: HostRun[], log: Log): Promise<boolean>;
  /** The image reached every host: what else goes (engine compose: accessory images); false stops the run (a target's report says why). */
  afterSend(runs: HostRun[], image: LocalImage, store: ImageStore, log: Log): Promise<boolean>;
  /** The image did not reach every host: what the targets' reports say, beyond "not started". */
  sendFailed(runs: HostRun[]): void;
}
