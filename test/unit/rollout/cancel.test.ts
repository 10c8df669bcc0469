import { describe, expect, it } from 'vitest';
import { Cancellation } from '../../../src/rollout/cancel';

describe('Cancellation', () => {
  it('tells each listener once, the first reason only, and late listeners at once', () => {
    const c = new Cancellation();
    const heard: string[] = [];
    c.onCancel((r) => heard.push(`a:${r}`));
    expect(c.reason).toBeUndefined();
    c.cancel('SIGINT');
    c.cancel('SIGTERM');
    c.onCancel((r) => heard.push(`b:${r}`));
    expect(c.reason).toBe('SIGINT');
    expect(heard).toEqual(['a:SIGINT', 'b:SIGINT']);
  });
});
