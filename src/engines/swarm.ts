import type { LocalImage } from '../image/local';
import { configTagCommand } from '../image/server-images';
import { type HostRun, type Log, hostLog } from '../rollout/host';
import type { Engine } from './engine';
import type { SshSession } from '../ssh/session';
import type { TransferResult } from '../image/transfer';

/** A node of the Swarm as the manager lists it. */
export interface SwarmNode {
  id: string;
  hostname: string;
  status: string; // Ready, Down, Unknown
  availability: string; // Active, Pause, Drain
}

export const NODE_LIST_COMMAND = `docker node ls --format '{{.ID}}|{{.Hostname}}|{{.Status}}|{{.Availability}}'`;
export const NODE_ID_COMMAND = `docker info --format '{{.Swarm.NodeID}}'`;

export function parseNodes(text: string): SwarmNode[] {
  return text
    .split('\n')
    .filter((line) => line.includes('|'))
    .map((line) => {
      const [id, hostname, status, availability] = line.trim().split('|');
      return { id, hostname, status, availability };
    });
}

/**
 * The nodes Swarm may start a task on (Ready and Active) that did not get the image: with no
 * registry, a task placed there could never start. The image goes only over SSH, to the hosts given.
 */
export function nodesWithoutImage(nodes: readonly SwarmNode[], reached: ReadonlySet<string>): SwarmNode[] {
  return nodes.filter((node) => node.status === 'Ready' && node.availability === 'Active' && !reached.has(node.id));
}

export function missingNodesError(missing: readonly SwarmNode[]): string {
  const names = missing.map((node) => `${node.hostname} (${node.id.slice(0, 12)})`).join(', ');
  return (
    `not started: Swarm may run the service on ${names}, which ${missing.length === 1 ? 'is' : 'are'} not in host, so the image cannot reach ${missing.length === 1 ? 'it' : 'them'} ` +
    '(it goes over SSH; no registry is used): add each node as a line of host, or drain it (docker node update --availability drain)'
  );
}

/** The image's transfers to every node as one: bytes summed, the slowest node's time. */
export function mergeTransfers(transfers: readonly TransferResult[]): TransferResult {
  const sum = (pick: (t: TransferResult) => number) => transfers.reduce((total, t) => total + pick(t), 0);
  return {
    skipped: transfers.every((t) => t.skipped),
    serverImageId: transfers[0].serverImageId,
    bytesSent: sum((t) => t.bytesSent),
    bytesRead: sum((t) => t.bytesRead),
    layersTotal: sum((t) => t.layersTotal),
    layersSkipped: sum((t) => t.layersSkipped),
    resentWhole: transfers.some((t) => t.resentWhole),
    seconds: Math.max(...transfers.map((t) => t.seconds)),
  };
}

async function output(session: SshSession, command: string, what: string): Promise<string> {
  const result = await session.exec(command);
  if (result.code !== 0) throw new Error(`${what} failed on ${session.config.host}: ${result.stderr.trim().split('\n').pop() ?? `exit ${result.code}`}`);
  return result.stdout.trim();
}

/** True when every node that may run the service is among the hosts; else the manager's report says why. */
async function checkNodes(runs: HostRun[], log: Log): Promise<boolean> {
  const [manager] = runs;
  try {
    const nodes = parseNodes(await output(manager.session as SshSession, NODE_LIST_COMMAND, 'docker node ls (is it a Swarm manager?)'));
    const ids = await Promise.all(runs.map((run) => output(run.session as SshSession, NODE_ID_COMMAND, 'docker info')));
    runs.forEach((run, i) => hostLog(log, runs, run)(ids[i] ? `Swarm node ${ids[i].slice(0, 12)}` : 'not in a Swarm'));
    const missing = nodesWithoutImage(nodes, new Set(ids.filter(Boolean)));
    if (missing.length === 0) return true;
    manager.failed(missingNodesError(missing));
  } catch (error) {
    manager.failed(error);
  }
  return false;
}

/** Names the version on every node by its config digest: the service's image, the same everywhere. */
async function pinVersion(runs: HostRun[], image: LocalImage): Promise<void> {
  await Promise.all(runs.map((run) => output(run.session as SshSession, configTagCommand(run.report.transfer?.serverImageId ?? image.id, image), 'docker tag')));
}

/**
 * engine: swarm. Deploy: every host (the manager first, then other nodes) is connected and checked
 * to cover every node Swarm may use, gets the image, and the script runs on the manager. Other
 * commands need only the manager. The manager's report carries the run (transfers merged into it).
 */
export const swarmEngine: Engine = {
  name: 'swarm',
  connects: (hosts, command) => (command === 'deploy' ? [...hosts] : hosts.slice(0, 1)),
  targets: (hosts) => hosts.slice(0, 1),
  beforeSend: checkNodes,
  async afterSend(runs, image) {
    const [manager] = runs;
    manager.tookTransfer(mergeTransfers(runs.map((r) => r.report.transfer as TransferResult)));
    try {
      await pinVersion(runs, image);
      return true;
    } catch (error) {
      manager.failed(error);
      return false;
    }
  },
  sendFailed(runs) {
    const [manager] = runs;
    const failed = runs.filter((r) => r.report.transfer === undefined);
    const bytesSent = runs.reduce((total, r) => total + (r.report.transfer?.bytesSent ?? r.report.bytesSent ?? 0), 0);
    manager.failed(`the image did not reach every node, so nothing changed: ${failed.map((r) => `${r.label}: ${r.report.error}`).join('; ')}`, bytesSent);
  },
};
