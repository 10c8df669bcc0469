import { createHash } from 'node:crypto';

/** Layer chain IDs as Docker computes them: each names a layer together with all layers below it. */
export function chainIds(diffIds: readonly string[]): string[] {
  const chains: string[] = [];
  for (const diffId of diffIds) {
    const previous = chains[chains.length - 1];
    chains.push(previous === undefined ? diffId : 'sha256:' + createHash('sha256').update(`${previous} ${diffId}`).digest('hex'));
  }
  return chains;
}

/** How many of the image's layers, from the base up, the server already has. */
export function layersOnServer(image: readonly string[], serverImages: ReadonlyArray<readonly string[]>): number {
  const present = new Set<string>();
  for (const layers of serverImages) for (const chain of chainIds(layers)) present.add(chain);
  const ours = chainIds(image);
  let count = 0;
  while (count < ours.length && present.has(ours[count])) count++;
  return count;
}

/** The top-level members of a compact JSON object as [key, raw value text], in their order. */
export function jsonMembers(text: string): Array<[string, string]> {
  const members: Array<[string, string]> = [];
  let i = text.indexOf('{') + 1;
  while (i < text.length && text[i] !== '}') {
    const keyStart = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    const key = JSON.parse(text.slice(keyStart, i + 1)) as string;
    i += 2; // past the closing quote and the colon
    const valueStart = i;
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) break;
    }
    members.push([key, text.slice(valueStart, i)]);
    if (text[i] === ',') i++;
  }
  return members;
}

/**
 * The directory names an old Docker (before 25) gives an image's lower layers in `docker save`:
 * v1 IDs, digests of the layer's legacy JSON with its chain ID and parent, keys sorted as Go's
 * encoding/json sorts a map. `sampleJson` is the json file of any lower layer of that archive
 * (they differ only in id and parent). Returns undefined when the computed IDs do not include the
 * sample's own id: a format this code does not know, so nothing is left out.
 */
export function legacyLayerDirs(diffIds: readonly string[], sampleJson: string): string[] | undefined {
  const members = jsonMembers(sampleJson);
  const ownId = JSON.parse(members.find(([key]) => key === 'id')?.[1] ?? '""') as string;
  const chains = chainIds(diffIds).slice(0, -1); // the top layer's JSON is the image config: never left out
  // Docker 20.10 adds "os" after computing the ID; other versions may not: try both.
  for (const dropped of [
    ['id', 'parent', 'os'],
    ['id', 'parent'],
  ]) {
    const base = members.filter(([key]) => !dropped.includes(key));
    const ids: string[] = [];
    for (const chain of chains) {
      const fields: Array<[string, string]> = [...base, ['layer_id', JSON.stringify(chain)]];
      if (ids.length > 0) fields.push(['parent', JSON.stringify(`sha256:${ids[ids.length - 1]}`)]);
      fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const text = `{${fields.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
      ids.push(createHash('sha256').update(text).digest('hex'));
    }
    if (ids.includes(ownId)) return ids;
  }
  return undefined;
}
