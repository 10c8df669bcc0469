import { dockerEngine } from '../engines/docker';
import type { Engine } from '../engines/engine';
import { swarmEngine } from '../engines/swarm';
import type { Command, Config, Rollout } from '../inputs/config';

/** What a run will do, decided from the validated inputs before anything is reached. */
export interface Plan {
  engine: Engine;
  /** How many hosts run the server script (their reports are the run's). */
  targets: number;
  /** One host, or a rolling rollout: a batch at a time; all at once: all healthy, then all switch. */
  strategy: Rollout;
  maxParallel: number;
  /** The app's rollout lock is taken on every target first (commands that change what runs). */
  locks: boolean;
  /** Several targets: each healthy deploy waits this long at most for the runner's word to switch. */
  barrierSeconds: number;
  /** Several targets: SIGINT/SIGTERM call the rollout off; one host's script finishes by itself. */
  cancellable: boolean;
}

export function engineFor(config: Pick<Config, 'deploy'>): Engine {
  return config.deploy.swarm ? swarmEngine : dockerEngine;
}

/** Commands that change what runs on a server take the app's rollout lock first (rollout/lock.ts). */
function changesApp(command: Command): boolean {
  return command === 'deploy' || command === 'rollback' || command === 'remove';
}

export function planOf(config: Pick<Config, 'command' | 'hosts' | 'deploy' | 'rollout' | 'maxParallel'>): Plan {
  const engine = engineFor(config);
  const targets = engine.targets(config.hosts).length;
  const several = targets > 1;
  return {
    engine,
    targets,
    strategy: several && config.command === 'deploy' ? config.rollout : 'rolling',
    maxParallel: config.maxParallel,
    locks: changesApp(config.command),
    barrierSeconds: several && config.command === 'deploy' ? Math.ceil(config.deploy.health.timeoutSeconds) + 600 : 0,
    cancellable: several,
  };
}
