import { describe, expect, it } from 'vitest';
import { shortId } from '../../../src/report/format';

describe('shortId', () => {
  it.each<[string | undefined | null, string]>([
    ['sha256:171b9e97d05909d41147720a7cf63e48602f43110e95fc5cd269c6004f0b35df', '171b9e97d059'],
    ['171b9e97d05909d41147720a7cf63e48602f43110e95fc5cd269c6004f0b35df', '171b9e97d059'],
    ['', ''],
    [undefined, ''],
    [null, ''],
  ])('%s', (id, short) => expect(shortId(id)).toBe(short));
});
