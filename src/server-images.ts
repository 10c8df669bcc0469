// The image commands run on the server (pure builders, tested by exact string) and the readers of
// their answers. transfer.ts runs them over SSH; nothing here does IO.
import type { LocalImage } from './image';
import { shellQuote } from './shell';

export const CONFIG_TAG_REPOSITORY = 'bluegreen/by-config';
export const configTag = (configDigest: string) => `${CONFIG_TAG_REPOSITORY}:${configDigest.replace(/^sha256:/, '')}`;

const INSPECT_FORMAT = '{{.Id}} {{json .RootFS}}';

/** Every image on the server as `layers <RootFS JSON>`: which layers it already has. */
export function layerListCommand(): string {
  return `docker image ls --quiet --no-trunc | sort -u | xargs -r docker image inspect --format 'layers {{json .RootFS}}'`;
}

/**
 * One round trip: `have <id> <RootFS JSON>` for every name the image may have on the server (its
 * config digest on the classic store; the runner's manifest or index digest, or the config tag, on
 * the containerd store), in one docker call; when none exists, the layer list of every image instead.
 */
export function lookupCommand(image: Pick<LocalImage, 'id' | 'storeId'>): string {
  const names = [...new Set([image.id, image.storeId, configTag(image.id)])].map(shellQuote).join(' ');
  return (
    `out=$(docker image inspect --format 'have ${INSPECT_FORMAT}' ${names} 2>/dev/null); ` +
    `if [ -n "$out" ]; then printf '%s\\n' "$out"; else ${layerListCommand()}; fi`
  );
}

/**
 * Loads the archive from stdin, then proves the result before it gets the config tag: its layers,
 * and, where the store named it otherwise than by its config (the containerd store, which can report
 * a load whose layers never unpacked as done), that a container can be created from it. Prints
 * `image <id> <RootFS JSON>`, then `proven`, `layers-differ` or `not-created <why>`.
 */
export function loadCommand(image: Pick<LocalImage, 'id' | 'reference' | 'layers'>, gzipped: boolean): string {
  const ref = shellQuote(image.reference);
  // The RootFS JSON's key order differs between docker CLIs: compare the layer digests alone.
  return (
    `${gzipped ? 'gunzip -c | ' : ''}docker load >&2 && echo loaded && ` +
    `info=$(docker image inspect --format '${INSPECT_FORMAT}' ${ref}) && echo "image $info" && id=\${info%% *} && ` +
    `if [ "$(printf '%s' "\${info#* }" | grep -o 'sha256:[0-9a-f]*' | tr '\\n' ' ')" != ${shellQuote(image.layers.join(' ') + ' ')} ]; then echo layers-differ; ` +
    `elif [ "$id" = ${shellQuote(image.id)} ]; then echo proven; ` +
    `elif c=$(docker create --network none --entrypoint /bluegreen-check ${ref} 2>&1); then docker rm "$c" >/dev/null && docker tag "$id" ${shellQuote(configTag(image.id))} && echo proven; ` +
    `else echo "not-created $c" | tr '\\n' ' '; echo; fi`
  );
}

/** Names the verified image: the workflow's reference, and the config tag where the store needs it. */
export function tagCommand(serverId: string, image: Pick<LocalImage, 'id' | 'reference'>): string {
  const tags = [image.reference, ...(serverId === image.id ? [] : [configTag(image.id)])];
  return tags.map((tag) => `docker tag ${shellQuote(serverId)} ${shellQuote(tag)}`).join(' && ');
}

/** Takes back the tags of an image that did not load whole. */
export function untagCommand(image: Pick<LocalImage, 'id' | 'reference'>): string {
  return `docker image rm ${shellQuote(image.reference)} ${shellQuote(configTag(image.id))} >/dev/null 2>&1 || true`;
}

export interface ServerImage {
  id: string;
  layers: string[];
}

function parseImageLine(rest: string): ServerImage | undefined {
  const space = rest.indexOf(' ');
  if (space < 0) return undefined;
  try {
    const rootfs = JSON.parse(rest.slice(space + 1)) as { Layers?: string[] };
    return { id: rest.slice(0, space), layers: rootfs.Layers ?? [] };
  } catch {
    return undefined;
  }
}

/** The lookup's answer: the server's copy of the image (only one with exactly its layers), and what layers it has. */
export function parseLookup(stdout: string, image: Pick<LocalImage, 'layers'>): { found?: ServerImage; candidates: number; layerLists: string[][] } {
  const result: { found?: ServerImage; candidates: number; layerLists: string[][] } = { candidates: 0, layerLists: [] };
  for (const line of stdout.split('\n')) {
    if (line.startsWith('have ')) {
      const candidate = parseImageLine(line.slice(5).trim());
      if (!candidate) continue;
      result.candidates++;
      if (!result.found && sameLayers(candidate.layers, image.layers)) result.found = candidate;
    } else if (line.startsWith('layers ')) {
      try {
        result.layerLists.push((JSON.parse(line.slice(7)) as { Layers?: string[] }).Layers ?? []);
      } catch {
        // a line the login shell printed
      }
    }
  }
  return result;
}

const sameLayers = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((layer, i) => layer === b[i]);

/** Whether what the load command printed proves the image complete: undefined if so, else why not. */
/** The `image <id> <RootFS JSON>` line the load command printed, parsed. */
export function loadedImage(stdout: string): ServerImage | undefined {
  const loaded = stdout.split('\n').find((line) => line.startsWith('image '));
  return loaded ? parseImageLine(loaded.slice(6).trim()) : undefined;
}

export function loadProblem(stdout: string, image: Pick<LocalImage, 'layers'>, expectedIds: readonly string[]): string | undefined {
  const lines = stdout.split('\n');
  const server = loadedImage(stdout);
  if (!server) return 'the image is missing after docker load';
  if (!expectedIds.includes(server.id)) return `the loaded image is ${server.id.slice(7, 19)}, not ${expectedIds.map((id) => id.slice(7, 19)).join(' or ')}`;
  if (!sameLayers(server.layers, image.layers)) return `the loaded image has ${server.layers.length} of its ${image.layers.length} layers`;
  const notCreated = lines.find((line) => line.startsWith('not-created'));
  if (notCreated || !lines.includes('proven')) return `no container can be created from it (${notCreated?.slice(12).trim() || 'no answer'})`;
  return undefined;
}

/** Holds chunks back so that no more than `bytesPerSecond` pass on average. */
