import { describe, expect, it } from 'vitest';
import { chainIds, jsonMembers, layersOnServer, legacyLayerDirs } from '../../../src/image/layers';

describe('layer deduplication', () => {
  it('computes chain IDs as Docker does', () => {
    const [a, b] = ['sha256:' + '1'.repeat(64), 'sha256:' + '2'.repeat(64)];
    const chains = chainIds([a, b]);
    expect(chains[0]).toBe(a);
    expect(chains[1]).toBe('sha256:' + require('node:crypto').createHash('sha256').update(`${a} ${b}`).digest('hex'));
  });
  it('counts the leading layers the server already has, by chain, not by single layer', () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => 'sha256:' + x.repeat(64));
    expect(layersOnServer([a, b, c], [[a, b, d]])).toBe(2);
    expect(layersOnServer([a, b, c], [[b, a, c]])).toBe(0); // same layers, other order: other chains
    expect(layersOnServer([a, b], [])).toBe(0);
    expect(layersOnServer([a, b], [[a], [a, b, c]])).toBe(2);
  });
});

describe('legacy docker save layer names', () => {
  const fixture = JSON.parse(require('node:fs').readFileSync(require('node:path').join(__dirname, '../../fixtures/legacy-save.json'), 'utf8')) as {
    diffIds: string[];
    manifestLayers: string[];
    lowerLayerJson: string;
  };
  it('computes the v1 directory names Docker 20.10 wrote for the lower layers', () => {
    const dirs = legacyLayerDirs(fixture.diffIds, fixture.lowerLayerJson);
    expect(dirs?.map((d) => `${d}/layer.tar`)).toEqual(fixture.manifestLayers.slice(0, -1));
  });
  it('gives up (leaving nothing out) on a json it cannot reproduce', () => {
    expect(legacyLayerDirs(fixture.diffIds, fixture.lowerLayerJson.replace('1970', '1971'))).toBeUndefined();
  });
  it('splits a compact JSON object into raw members, strings with escapes included', () => {
    expect(jsonMembers('{"a":"x\\"}y","b":{"c":[1,{"d":"]"}]},"e":null}')).toEqual([
      ['a', '"x\\"}y"'],
      ['b', '{"c":[1,{"d":"]"}]}'],
      ['e', 'null'],
    ]);
  });
});
