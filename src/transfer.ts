import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import * as tar from 'tar-stream';
import { ParallelGzip } from './compress';
import type { ImageStore, LocalImage } from './image';
import { ProgressThrottle, TransferFigures, progressLine, summaryLine } from './progress';
import { shellQuote } from './shell';
import type { SshSession } from './ssh';

export interface TransferResult {
  skipped: boolean; // the server already had the image
  bytesSent: number; // compressed bytes on the wire (image data)
  bytesRead: number; // uncompressed bytes of docker save read on the runner
  layersTotal: number;
  layersSkipped: number; // layers the server already had, left out of the stream
  seconds: number;
}

export class TransferError extends Error {}

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
  for (const dropped of [['id', 'parent', 'os'], ['id', 'parent']]) {
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

/**
 * The docker save archive without the layer files of the first `known` layers: docker load skips a
 * layer whose chain it already has without opening its file. Docker 25+ names layers
 * blobs/sha256/<diff ID>; older ones <v1 id>/layer.tar, worked out from the first lower layer's json
 * (which comes before its layer.tar). Whatever cannot be identified is sent.
 */
function withoutKnownLayers(archive: Readable, diffIds: readonly string[], known: number, onLeftOut: () => void): Readable {
  const leaveOut = new Set(diffIds.slice(0, known).map((id) => `blobs/sha256/${id.replace(/^sha256:/, '')}`));
  let legacyMapped = false;
  const extract = tar.extract();
  const pack = tar.pack();
  const pass = (header: tar.Headers, content: Buffer | Readable, next: () => void) => {
    if (Buffer.isBuffer(content)) {
      pack.entry(header, content, (error) => (error ? pack.destroy(error) : next()));
    } else {
      content.pipe(pack.entry(header, (error) => (error ? pack.destroy(error) : next())));
    }
  };
  extract.on('entry', (header, stream, next) => {
    if (leaveOut.has(header.name)) {
      onLeftOut();
      stream.on('end', next);
      stream.resume();
    } else if (!legacyMapped && /^[0-9a-f]{64}\/json$/.test(header.name) && (header.size ?? 0) < 1024 * 1024) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const json = Buffer.concat(chunks);
        const dirs = legacyLayerDirs(diffIds, json.toString('utf8'));
        if (dirs) {
          legacyMapped = true;
          for (const dir of dirs.slice(0, known)) leaveOut.add(`${dir}/layer.tar`);
        }
        pass(header, json, next);
      });
    } else {
      pass(header, stream, next);
    }
  });
  extract.on('finish', () => pack.finalize());
  pipeline(archive, extract, (error) => error && pack.destroy(error));
  return pack as unknown as Readable;
}

/** Holds chunks back so that no more than `bytesPerSecond` pass on average. */
function rateLimit(bytesPerSecond: number | undefined): Transform {
  const started = Date.now();
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      passed += chunk.length;
      const due = bytesPerSecond ? started + (passed / bytesPerSecond) * 1000 - Date.now() : 0;
      if (due > 0) setTimeout(() => callback(null, chunk), due);
      else callback(null, chunk);
    },
  });
}

function counter(onBytes: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onBytes(chunk.length);
      callback(null, chunk);
    },
  });
}

/**
 * One round trip: the image's ID if the server has it; if not, every image on the server as its
 * list of layer diff IDs (for working out which layers it has).
 */
async function askServer(ssh: SshSession, imageId: string): Promise<{ id: string; images: string[][] }> {
  const result = await ssh.exec(
    `docker image inspect --format '{{.Id}}' ${shellQuote(imageId)} 2>/dev/null || { echo '--'; ` +
      `docker image ls --quiet --no-trunc | sort -u | xargs -r docker image inspect --format '{{json .RootFS.Layers}}'; }`,
  );
  const lines = result.stdout.split('\n').map((line) => line.trim());
  const separator = lines.indexOf('--');
  if (separator < 0) return { id: lines.join(''), images: [] };
  const images = lines
    .slice(separator + 1)
    .filter((line) => line.startsWith('['))
    .map((line) => JSON.parse(line) as string[]);
  return { id: '', images };
}

export interface TransferOptions {
  log: (line: string) => void;
  /** Seconds between progress lines at the most (a line also comes every 10%). */
  progressEverySeconds?: number;
  /** Cap on compressed bytes per second sent to the server (to spare a slow uplink). */
  limitBytesPerSecond?: number;
}

/**
 * Makes sure the server has the image: nothing is sent when it has it already (it is only tagged);
 * else `docker save` is streamed through gzip into `docker load` over SSH, leaving out the layers the
 * server already has. On failure nothing new is tagged on the server and the live app is untouched.
 */
export async function ensureImageOnServer(ssh: SshSession, store: ImageStore, image: LocalImage, options: TransferOptions): Promise<TransferResult> {
  const started = Date.now();
  const host = ssh.config.host;
  const server = await askServer(ssh, image.id);
  if (server.id === image.id) {
    const tag = await ssh.exec(`docker tag ${shellQuote(image.id)} ${shellQuote(image.reference)}`);
    if (tag.code !== 0) throw new TransferError(`${host} has image ${image.id.slice(7, 19)} but cannot tag it ${image.reference}: ${tag.stderr.trim()}`);
    options.log(`${host} already has ${image.reference} (${image.id.slice(7, 19)}): nothing to send`);
    return { skipped: true, bytesSent: 0, bytesRead: 0, layersTotal: image.layers.length, layersSkipped: image.layers.length, seconds: (Date.now() - started) / 1000 };
  }

  const known = layersOnServer(image.layers, server.images);
  if (known > 0) options.log(`${host} already has ${known} of ${image.layers.length} layers: leaving them out`);
  try {
    return await stream(ssh, store, image, known, started, options);
  } catch (error) {
    if (known > 0 && error instanceof TransferError && /no such file|layer|manifest/i.test(error.message)) {
      // A Docker that cannot load an archive without the layers it has (e.g. the containerd image store).
      options.log(`${host} did not accept the image without its known layers (${error.message}); sending it whole`);
      return stream(ssh, store, image, 0, Date.now(), options);
    }
    throw error;
  }
}

async function stream(
  ssh: SshSession,
  store: ImageStore,
  image: LocalImage,
  knownLayers: number,
  started: number,
  options: TransferOptions,
): Promise<TransferResult> {
  const host = ssh.config.host;
  const figures: TransferFigures = { totalBytes: image.sizeBytes, readBytes: 0, sentBytes: 0, elapsedSeconds: 0 };
  const throttle = new ProgressThrottle(options.progressEverySeconds ?? 5, 10);
  const report = () => {
    figures.elapsedSeconds = (Date.now() - started) / 1000;
    if (throttle.shouldReport(figures)) options.log(progressLine(figures));
  };
  const timer = setInterval(report, 1000);

  const saved = await store.save(image.reference);
  let saveError: Error | undefined;
  saved.on('error', (error) => {
    saveError = error;
  });
  let layersSkipped = 0;
  const archive = knownLayers > 0 ? withoutKnownLayers(saved, image.layers, knownLayers, () => layersSkipped++) : saved;
  const compressed = new PassThrough({ highWaterMark: 1024 * 1024 });
  let sourceError: Error | undefined;
  pipeline(
    archive,
    counter((bytes) => {
      figures.readBytes += bytes;
    }),
    new ParallelGzip({ level: 6, blockSize: options.limitBytesPerSecond ? 64 * 1024 : 1024 * 1024 }),
    rateLimit(options.limitBytesPerSecond),
    compressed,
    (error) => {
      if (error) {
        sourceError = error;
        compressed.destroy(error);
      }
    },
  );

  options.log(`sending ${image.reference} (${image.id.slice(7, 19)}) to ${host}: docker save | parallel gzip | ssh docker load`);
  // docker load tags the image only after every layer arrived: a cut stream leaves no new tag.
  // The same command then prints the ID the reference has on the server, to check it.
  const result = await ssh
    .exec(`gunzip -c | docker load >&2 && docker image inspect --format '{{.Id}}' ${shellQuote(image.reference)}`, {
      stdin: compressed,
      onStdinChunk: (bytes) => {
        figures.sentBytes += bytes;
      },
    })
    .finally(() => clearInterval(timer));
  figures.elapsedSeconds = (Date.now() - started) / 1000;
  const progress = `after ${figures.sentBytes} bytes sent (${figures.readBytes} of about ${image.sizeBytes} read)`;
  if (saveError) throw new TransferError(`reading the image on the runner (docker save) failed ${progress}: ${saveError.message}`);
  if (result.code === null) {
    const why = ssh.dropped?.message ?? (result.signal ? `killed by ${result.signal}` : 'connection lost');
    throw new TransferError(`the connection to ${host} broke ${progress} (${why}); the server keeps serving what it served, run again`);
  }
  if (result.code !== 0) {
    const detail = result.stderr.trim().split('\n').slice(-3).join(' ');
    const full = /no space left/i.test(detail) ? ' The server\'s disk is full: free space (docker system prune) and run again.' : '';
    throw new TransferError(`docker load on ${host} failed ${progress}: ${detail}.${full}`);
  }
  if (sourceError) throw new TransferError(`compressing the image on the runner failed ${progress}: ${sourceError.message}`);
  if (result.stdout.trim() !== image.id) {
    throw new TransferError(`after docker load, ${image.reference} on ${host} is ${result.stdout.trim() || 'missing'}, not ${image.id}`);
  }
  options.log(summaryLine(figures));
  return {
    skipped: false,
    bytesSent: figures.sentBytes,
    bytesRead: figures.readBytes,
    layersTotal: image.layers.length,
    layersSkipped,
    seconds: figures.elapsedSeconds,
  };
}
