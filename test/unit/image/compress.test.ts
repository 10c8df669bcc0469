import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip, looksIncompressible } from '../../../src/image/compress';

async function compress(input: Buffer, blockSize = 64 * 1024): Promise<Buffer> {
  const chunks = [];
  for (let i = 0; i < input.length; i += 10_000) chunks.push(input.subarray(i, i + 10_000));
  return buffer(Readable.from(chunks).pipe(new ParallelGzip({ blockSize, concurrency: 3 })));
}

const text = (bytes: number) => {
  const words = ['deploy', 'blue', 'green', 'nginx', 'health', 'switch', 'drain', 'layer', '{"a":1}', '\n'];
  let out = '';
  let seed = 7;
  while (out.length < bytes) out += words[(seed = (seed * 1103515245 + 12345) % 2147483648) % words.length] + ' ';
  return Buffer.from(out.slice(0, bytes));
};

describe('ParallelGzip', () => {
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['tiny', Buffer.from('hello')],
    ['text over many blocks', text(700_001)],
    ['random over many blocks', randomBytes(500_000)],
    ['random then text', Buffer.concat([randomBytes(300_000), text(300_000), randomBytes(100_000)])],
  ];

  it.each(cases)('makes one gzip stream that gunzip reads back exactly: %s', async (_name, input) => {
    const gz = await compress(input);
    expect(execFileSync('gunzip', ['-c'], { input: gz, maxBuffer: 1 << 26 }).equals(input)).toBe(true);
    expect(() => execFileSync('gzip', ['-t'], { input: gz })).not.toThrow(); // CRC and length are right
  });

  it('is as small as single-thread gzip -6, because each block sees the previous 32 KiB', async () => {
    const input = Buffer.concat([text(600_000), randomBytes(200_000), text(400_000)]);
    const ours = (await compress(input)).length;
    const gzip = gzipSync(input, { level: 6 }).length;
    expect(ours / gzip).toBeLessThan(1.001);
    // Without the dictionary every 64 KiB block would start cold and be visibly larger:
    const cold = Buffer.concat(Array.from({ length: Math.ceil(input.length / 65536) }, (_, i) => gzipSync(input.subarray(i * 65536, (i + 1) * 65536)))).length;
    expect(ours).toBeLessThan(cold);
  });

  it('stores blocks that do not compress and compresses those that do', () => {
    expect(looksIncompressible(randomBytes(256 * 1024))).toBe(true);
    expect(looksIncompressible(text(256 * 1024))).toBe(false);
    expect(looksIncompressible(Buffer.concat([randomBytes(200 * 1024), text(56 * 1024)]))).toBe(false);
  });
});
