// engine: swarm, the runner's side: which nodes the image must reach, and the transfers as one.
import { describe, expect, it } from 'vitest';
import { mergeTransfers, missingNodesError, nodesWithoutImage, parseNodes } from '../../../src/engines/swarm';
import type { TransferResult } from '../../../src/image/transfer';

const NODES =
  'aaaaaaaaaaaaaaaa1|manager|Ready|Active\nbbbbbbbbbbbbbbbb2|worker1|Ready|Active\ncccccccccccccccc3|worker2|Down|Active\ndddddddddddddddd4|worker3|Ready|Drain\neeeeeeeeeeeeeeee5|worker4|Ready|Pause\n';

describe('parseNodes', () => {
  it("reads docker node ls's ID|HOSTNAME|STATUS|AVAILABILITY lines", () => {
    expect(parseNodes(NODES)[1]).toEqual({ id: 'bbbbbbbbbbbbbbbb2', hostname: 'worker1', status: 'Ready', availability: 'Active' });
    expect(parseNodes(NODES)).toHaveLength(5);
    expect(parseNodes('')).toEqual([]);
  });
});

describe('nodesWithoutImage: the nodes Swarm may start a task on that the image did not reach', () => {
  const cases: Array<[string, string[], string[]]> = [
    ['every ready, active node given', ['aaaaaaaaaaaaaaaa1', 'bbbbbbbbbbbbbbbb2'], []],
    ['a ready, active worker missing', ['aaaaaaaaaaaaaaaa1'], ['worker1']],
    ['only workers given', ['bbbbbbbbbbbbbbbb2'], ['manager']],
    ['down, drained and paused nodes never count', ['aaaaaaaaaaaaaaaa1', 'bbbbbbbbbbbbbbbb2'], []],
    ['a host that is no node of this Swarm changes nothing', ['aaaaaaaaaaaaaaaa1', 'zzz'], ['worker1']],
  ];
  it.each(cases)('%s', (_name, reached, missing) => {
    expect(nodesWithoutImage(parseNodes(NODES), new Set(reached)).map((node) => node.hostname)).toEqual(missing);
  });

  it('says which nodes, why, and what to do', () => {
    const missing = nodesWithoutImage(parseNodes(NODES), new Set(['cccccccccccccccc3']));
    expect(missingNodesError(missing)).toBe(
      'not started: Swarm may run the service on manager (aaaaaaaaaaaa), worker1 (bbbbbbbbbbbb), which are not in host, so the image cannot reach them ' +
        '(it goes over SSH; no registry is used): add each node as a line of host, or drain it (docker node update --availability drain)',
    );
    expect(missingNodesError(missing.slice(0, 1))).toContain('on manager (aaaaaaaaaaaa), which is not in host, so the image cannot reach it');
  });
});

describe('mergeTransfers', () => {
  const transfer = (over: Partial<TransferResult>): TransferResult => ({
    skipped: false,
    serverImageId: 'sha256:1',
    bytesSent: 0,
    bytesRead: 0,
    layersTotal: 5,
    layersSkipped: 0,
    resentWhole: false,
    seconds: 1,
    ...over,
  });
  it('sums the bytes and layers, keeps the slowest time, and is skipped only when every node had the image', () => {
    const merged = mergeTransfers([transfer({ bytesSent: 100, bytesRead: 300, seconds: 2, layersSkipped: 4 }), transfer({ skipped: true, serverImageId: 'sha256:2', seconds: 0.1, layersSkipped: 5 })]);
    expect(merged).toEqual({ skipped: false, serverImageId: 'sha256:1', bytesSent: 100, bytesRead: 300, layersTotal: 10, layersSkipped: 9, resentWhole: false, seconds: 2 });
    expect(mergeTransfers([transfer({ skipped: true }), transfer({ skipped: true })]).skipped).toBe(true);
    expect(mergeTransfers([transfer({}), transfer({ resentWhole: true })]).resentWhole).toBe(true);
  });
});
