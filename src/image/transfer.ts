import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { ArchiveFacts, serverArchive } from './archive';
import { ParallelGzip } from './compress';
import type { ImageStore, LocalImage } from './local';
import { layersOnServer } from './layers';
import { ProgressThrottle, TransferFigures, progressLine, summaryLine } from './progress';
import { layerListCommand, loadCommand, loadProblem, loadedImage, lookupCommand, parseLookup, tagCommand, untagCommand } from './server-images';
import type { SshSession } from '../ssh/session';
import { shortId } from '../format';

export interface TransferResult {
  skipped: boolean; // the server already had the image
  serverImageId: string; // what the server's image store calls it (the config digest on the classic store)
  bytesSent: number; // bytes on the wire (image data), every attempt counted
  bytesRead: number; // bytes of docker save read on the runner
  layersTotal: number;
  layersSkipped: number; // layers the server already had, left out of the stream
  resentWhole: boolean; // the first load was refused or incomplete, and the image was sent again whole
  seconds: number;
}

export class TransferError extends Error {
  constructor(
    message: string,
    readonly bytesSent = 0,
  ) {
    super(message);
  }
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

export interface TransferOptions {
  log: (line: string) => void;
  /** Seconds between progress lines at the most (a line also comes every 10%). */
  progressEverySeconds?: number;
  /** Cap on compressed bytes per second sent to the server (to spare a slow uplink). */
  limitBytesPerSecond?: number;
}

/**
 * Makes sure the server has the image, proven complete, under the workflow's reference: nothing is
 * sent when it has it already; else the runner's `docker save`, as an archive either image store
 * loads, leaves out the layers the server has and streams (gzipped unless its layers are stored
 * compressed) into `docker load` over SSH. A load that is refused or proves incomplete is undone and
 * the image sent whole, once. Nothing unproven keeps a tag; the live app is untouched.
 */
export async function ensureImageOnServer(ssh: SshSession, store: ImageStore, image: LocalImage, options: TransferOptions): Promise<TransferResult> {
  const started = Date.now();
  const host = ssh.config.host;
  const short = shortId(image.id);
  let lookup = parseLookup((await ssh.exec(lookupCommand(image))).stdout, image);
  const base = { layersTotal: image.layers.length, resentWhole: false };
  if (lookup.found) {
    if (lookup.tagged !== lookup.found.id) {
      // The lookup tags what it finds; asked again here, the error comes back to be reported.
      const tag = await ssh.exec(tagCommand(lookup.found.id, image));
      if (tag.code !== 0) throw new TransferError(`${host} has image ${short} but cannot tag it ${image.reference}: ${tag.stderr.trim()}`);
    }
    options.log(`${host} already has ${image.reference} (${short}): nothing to send`);
    return { ...base, skipped: true, serverImageId: lookup.found.id, bytesSent: 0, bytesRead: 0, layersSkipped: image.layers.length, seconds: (Date.now() - started) / 1000 };
  }
  if (lookup.candidates > 0) lookup = parseLookup((await ssh.exec(layerListCommand())).stdout, image); // a name that is not this image

  let known = layersOnServer(image.layers, lookup.layerLists);
  let bytesSent = 0;
  let bytesRead = 0;
  for (let attempt = 1; ; attempt++) {
    if (known > 0) options.log(`${host} already has ${known} of ${image.layers.length} layers: leaving them out`);
    const sent = await stream(ssh, store, image, known, options, bytesSent);
    bytesSent += sent.bytesSent;
    bytesRead += sent.bytesRead;
    if (!sent.problem) {
      const result = {
        ...base,
        skipped: false,
        serverImageId: sent.serverId,
        bytesSent,
        bytesRead,
        layersSkipped: sent.layersSkipped,
        resentWhole: attempt > 1,
        seconds: (Date.now() - started) / 1000,
      };
      options.log(summaryLine({ totalBytes: image.sizeBytes, readBytes: bytesRead, sentBytes: bytesSent, elapsedSeconds: result.seconds }));
      return result;
    }
    await ssh.exec(untagCommand(image));
    if (attempt === 2) throw new TransferError(`${image.reference} did not load whole on ${host}, also when sent whole: ${sent.problem}`, bytesSent);
    options.log(`${host}: ${sent.problem}; took its tag back and sending ${image.reference} whole`);
    known = 0;
  }
}

interface Sent {
  bytesSent: number;
  bytesRead: number;
  layersSkipped: number;
  serverId: string;
  problem?: string; // the load was refused or is not complete
}

async function stream(ssh: SshSession, store: ImageStore, image: LocalImage, knownLayers: number, options: TransferOptions, sentBefore: number): Promise<Sent> {
  const started = Date.now();
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
  const leaveOut = new Set(image.layerBlobs.slice(0, knownLayers));
  const { archive, facts } = serverArchive(saved, { reference: image.reference, configDigest: image.id, diffIds: image.layers, leaveOut });
  const gzipped = !image.compressedLayers;
  const wire = new PassThrough({ highWaterMark: 1024 * 1024 });
  let sourceError: Error | undefined;
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [
    archive,
    counter((bytes) => {
      figures.readBytes += bytes;
    }),
  ];
  if (gzipped) stages.push(new ParallelGzip({ level: 6, blockSize: options.limitBytesPerSecond ? 64 * 1024 : 1024 * 1024 }));
  stages.push(rateLimit(options.limitBytesPerSecond), wire);
  pipeline(stages as unknown as [Readable, PassThrough], (error) => {
    if (error) {
      sourceError = error;
      wire.destroy(error);
    }
  });

  const how = gzipped ? 'parallel gzip' : 'layers already compressed, no gzip';
  options.log(`sending ${image.reference} (${shortId(image.id)}) to ${host}: docker save | ${how} | ssh docker load`);
  const result = await ssh
    .exec(loadCommand(image, gzipped), {
      stdin: wire,
      onStdinChunk: (bytes) => {
        figures.sentBytes += bytes;
      },
    })
    .finally(() => clearInterval(timer));
  const sentBytes = sentBefore + figures.sentBytes;
  const progress = `after ${figures.sentBytes} bytes sent (${figures.readBytes} of about ${image.sizeBytes} read)`;
  if (saveError) throw new TransferError(`reading the image on the runner (docker save) failed ${progress}: ${saveError.message}`, sentBytes);
  if (result.code === null) {
    const why = ssh.dropped?.message ?? (result.signal ? `killed by ${result.signal}` : 'connection lost');
    throw new TransferError(`the connection to ${host} broke ${progress} (${why}); the server keeps serving what it served, run again`, sentBytes);
  }
  if (sourceError) throw new TransferError(`preparing the image on the runner failed ${progress}: ${sourceError.message}`, sentBytes);
  const archiveFacts: ArchiveFacts = await facts;
  const sent = { bytesSent: figures.sentBytes, bytesRead: figures.readBytes, layersSkipped: archiveFacts.blobsLeftOut };
  if (result.code !== 0 || !result.stdout.split('\n').includes('loaded')) {
    const detail = result.stderr.trim().split('\n').slice(-3).join(' ');
    if (/no space left/i.test(detail)) {
      throw new TransferError(`docker load on ${host} failed ${progress}: ${detail}. The server's disk is full: free space (docker system prune) and run again.`, sentBytes);
    }
    if (knownLayers > 0) return { ...sent, serverId: '', problem: `docker load refused the archive without the layers it has (${detail})` };
    throw new TransferError(`docker load on ${host} failed ${progress}: ${detail}`, sentBytes);
  }
  const expectedIds = [image.id, archiveFacts.topDigest];
  const serverId = loadedImage(result.stdout)?.id ?? '';
  const unpackError = `${result.stdout}\n${result.stderr}`.split('\n').find((line) => /^Error /.test(line));
  const problem = loadProblem(result.stdout, image, expectedIds);
  return { ...sent, serverId, problem: problem && (unpackError ? `${problem}; docker load said: ${unpackError.slice(0, 300)}` : problem) };
}
