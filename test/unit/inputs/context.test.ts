import { describe, expect, it } from 'vitest';
import { runContext } from '../../../src/inputs/context';

describe('runContext', () => {
  it.each([
    [{}, { repository: undefined, gitSha: '', runUrl: '', summaryFile: undefined }],
    [
      { GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '42', GITHUB_SHA: 'abc', GITHUB_STEP_SUMMARY: '/s' },
      { repository: 'acme/shop', gitSha: 'abc', runUrl: 'https://github.com/acme/shop/actions/runs/42', summaryFile: '/s' },
    ],
    [
      { GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '7', GITHUB_SERVER_URL: 'https://ghe.example.com' },
      { repository: 'acme/shop', gitSha: '', runUrl: 'https://ghe.example.com/acme/shop/actions/runs/7', summaryFile: undefined },
    ],
    [{ GITHUB_REPOSITORY: 'acme/shop' }, { repository: 'acme/shop', gitSha: '', runUrl: '', summaryFile: undefined }],
  ])('%o', (env, context) => expect(runContext(env)).toEqual(context));
});
