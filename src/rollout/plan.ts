import { composeEngine } from '../engines/compose';
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
  /** deploy with release-command: the release phase runs once, on the first target, before the rollout. */
  release: boolean;
  /** command run: one target only (the first host, or Swarm's manager), whatever the hosts. */
  oneTarget: boolean;
  /** The image is sent: a deploy's, or the one command run is to run in. */
  sendsImage: boolean;
}

export function engineFor(config: Pick<Config, 'deploy'>): Engine {
  if (config.deploy.compose) return composeEngine(config.deploy.compose);
  return config.deploy.swarm ? swarmEngine : dockerEngine;
}

/** Commands that change what runs on a server take the app's rollout lock first (rollout/lock.ts); run unless run-lock is false. */
function takesLock(config: Pick<Config, 'command' | 'oneOff'>): boolean {
  const { command } = config;
  return ['deploy', 'rollback', 'remove', 'maintenance', 'live'].includes(command) || (command === 'run' && config.oneOff?.lock !== false);
}

export function planOf(config: Pick<Config, 'command' | 'hosts' | 'deploy' | 'rollout' | 'maxParallel' | 'release' | 'oneOff' | 'image'>): Plan {
  const engine = engineFor(config);
  const oneTarget = config.command === 'run';
  const targets = oneTarget ? 1 : engine.targets(config.hosts).length;
  const several = targets > 1;
  return {
    engine,
    targets,
    strategy: several && config.command === 'deploy' ? config.rollout : 'rolling',
    maxParallel: config.maxParallel,
    locks: takesLock(config),
    barrierSeconds: several && config.command === 'deploy' ? Math.ceil(config.deploy.health.timeoutSeconds) + 600 : 0,
    cancellable: several,
    release: config.release !== undefined, // readConfig gives one for a deploy only
    oneTarget,
    sendsImage: config.command === 'deploy' || (config.command === 'run' && config.image !== ''),
  };
}

const narrowed = <T>(plan: Plan, hosts: T[]): T[] => (plan.oneTarget ? hosts.slice(0, 1) : hosts);

/** The hosts a command connects to: the engine's, or only the first for a one-target command. */
export function connectedOf<T>(plan: Plan, hosts: readonly T[], command: Command): T[] {
  return narrowed(plan, plan.engine.connects(hosts, command));
}

/** The hosts the server script runs on: their reports are the run's. */
export function targetsOf<T>(plan: Plan, hosts: readonly T[]): T[] {
  return narrowed(plan, plan.engine.targets(hosts));
}
