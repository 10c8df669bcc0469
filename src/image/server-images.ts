// The image commands run on the server (pure builders, tested by exact string) and the readers of
// their answers. transfer.ts runs them over SSH; nothing here does IO.
import type { LocalImage } from './local';
import { shellQuote } from '../remote/shell';
import { shortId } from '../format';

export const CONFIG_TAG_REPOSITORY = 'bluegreen/by-config';
/**
 * On the containerd store an image loaded from an archive is named by its manifest, not its
 * config: this tag records, on the server, which image a config digest was verified to be.
 */
export const configTag = (configDigest: string) => `${CONFIG_TAG_REPOSITORY}:${configDigest.replace(/^sha256:/, '')}`;

const INSPECT_FORMAT = '{{.Id}} {{json .RootFS}}';
// The layer digests of a RootFS JSON on stdin, space-separated: its key order differs between docker CLIs.
const LAYER_DIGESTS = `grep -o 'sha256:[0-9a-f]*' | tr '\\n' ' '`;
const layerDigests = (image: Pick<LocalImage, 'layers'>) => shellQuote(image.layers.join(' ') + ' ');

/** Every image on the server as `layers <RootFS JSON>`: which layers it already has. */
export function layerListCommand(): string {
  return `docker image ls --quiet --no-trunc | sort -u | xargs -r docker image inspect --format 'layers {{json .RootFS}}'`;
}

/**
 * One round trip: `have <id> <RepoTags JSON> <RootFS JSON>` for every name the image may have on the
 * server (its config digest on the classic store; the runner's manifest or index digest, or the
 * config tag, on the containerd store), in one docker call; the first with exactly the image's layers
 * gets the workflow's tags there and then, each only when the image does not carry it yet (`tagged
 * <id>`). When none exists, the layer list of every image.
 */
export function lookupCommand(image: Pick<LocalImage, 'id' | 'storeId' | 'reference' | 'layers'>): string {
  const names = [...new Set([image.id, image.storeId, configTag(image.id)])].map(shellQuote).join(' ');
  // A tag the image already carries, as its RepoTags JSON lists it.
  const carries = (tag: string, command: string) => `case "$tags" in *${shellQuote(`"${tag}"`)}*) ;; *) ${command} ;; esac`;
  return (
    `out=$(docker image inspect --format 'have {{.Id}} {{json .RepoTags}} {{json .RootFS}}' ${names} 2>/dev/null); ` +
    `if [ -n "$out" ]; then printf '%s\\n' "$out"; ` +
    `found=$(printf '%s\\n' "$out" | while read -r _ id tags rootfs; do if [ "$(printf '%s' "$rootfs" | ${LAYER_DIGESTS})" = ${layerDigests(image)} ]; then echo "$id $tags"; break; fi; done); ` +
    `id=\${found%% *}; tags=\${found#* }; ` +
    `if [ -n "$id" ] && { ${carries(image.reference, tags('"$id"', image).reference)}; } && { [ "$id" = ${shellQuote(image.id)} ] || { ${carries(configTag(image.id), tags('"$id"', image).config)}; }; }; then echo "tagged $id"; fi; ` +
    `else ${layerListCommand()}; fi`
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
    `if [ "$(printf '%s' "\${info#* }" | ${LAYER_DIGESTS})" != ${layerDigests(image)} ]; then echo layers-differ; ` +
    `elif [ "$id" = ${shellQuote(image.id)} ]; then echo proven; ` +
    `elif c=$(docker create --network none --entrypoint /bluegreen-check ${ref} 2>&1); then docker rm "$c" >/dev/null && docker tag "$id" ${shellQuote(configTag(image.id))} && echo proven; ` +
    `else echo "not-created $c" | tr '\\n' ' '; echo; fi`
  );
}

const tags = (idWord: string, image: Pick<LocalImage, 'id' | 'reference'>) => ({
  reference: `docker tag ${idWord} ${shellQuote(image.reference)}`,
  config: `docker tag ${idWord} ${shellQuote(configTag(image.id))}`,
});

/** Names the verified image: the workflow's reference, and the config tag where the store needs it. */
export function tagCommand(serverId: string, image: Pick<LocalImage, 'id' | 'reference'>): string {
  const { reference, config } = tags(shellQuote(serverId), image);
  return serverId === image.id ? reference : `${reference} && ${config}`;
}

/** engine: swarm: the config tag on every store, the one name of this version on every node. */
export function configTagCommand(serverId: string, image: Pick<LocalImage, 'id' | 'reference'>): string {
  return tags(shellQuote(serverId), image).config;
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

export interface Lookup {
  found?: ServerImage; // the server's copy: the first name with exactly the image's layers
  tagged?: string; // the ID the lookup already gave the workflow's tags
  candidates: number;
  layerLists: string[][];
}

/** The lookup's answer: the server's copy of the image (only one with exactly its layers), and what layers it has. */
export function parseLookup(stdout: string, image: Pick<LocalImage, 'layers'>): Lookup {
  const result: Lookup = { candidates: 0, layerLists: [] };
  for (const line of stdout.split('\n')) {
    if (line.startsWith('have ')) {
      // `have <id> <RepoTags JSON> <RootFS JSON>`: the tags (no spaces in them) are the server's business.
      const [id, , ...rootfs] = line.slice(5).trim().split(' ');
      const candidate = parseImageLine(`${id} ${rootfs.join(' ')}`);
      if (!candidate) continue;
      result.candidates++;
      if (!result.found && sameLayers(candidate.layers, image.layers)) result.found = candidate;
    } else if (line.startsWith('tagged ')) {
      result.tagged = line.slice(7).trim();
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

/** The `image <id> <RootFS JSON>` line the load command printed, parsed. */
export function loadedImage(stdout: string): ServerImage | undefined {
  const loaded = stdout.split('\n').find((line) => line.startsWith('image '));
  return loaded ? parseImageLine(loaded.slice(6).trim()) : undefined;
}

/** Whether what the load command printed proves the image complete: undefined if so, else why not. */
export function loadProblem(stdout: string, image: Pick<LocalImage, 'layers'>, expectedIds: readonly string[]): string | undefined {
  const lines = stdout.split('\n');
  const server = loadedImage(stdout);
  if (!server) return 'the image is missing after docker load';
  if (!expectedIds.includes(server.id)) return `the loaded image is ${shortId(server.id)}, not ${expectedIds.map(shortId).join(' or ')}`;
  if (!sameLayers(server.layers, image.layers)) return `the loaded image has ${server.layers.length} of its ${image.layers.length} layers`;
  const notCreated = lines.find((line) => line.startsWith('not-created'));
  if (notCreated || !lines.includes('proven')) return `no container can be created from it (${notCreated?.slice(12).trim() || 'no answer'})`;
  return undefined;
}
