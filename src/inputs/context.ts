/** What the workflow run says about itself, read from the runner's environment in one place. */
export interface RunContext {
  repository?: string; // owner/name, names the app when the app input is empty
  gitSha: string;
  runUrl: string; // this run's page ('' outside GitHub Actions), recorded on the server for rollback
  summaryFile?: string; // where the job summary goes (GITHUB_STEP_SUMMARY)
}

export function runContext(env: NodeJS.ProcessEnv): RunContext {
  const repository = env.GITHUB_REPOSITORY || undefined;
  const runUrl = repository && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL || 'https://github.com'}/${repository}/actions/runs/${env.GITHUB_RUN_ID}` : '';
  return { repository, gitSha: env.GITHUB_SHA ?? '', runUrl, summaryFile: env.GITHUB_STEP_SUMMARY || undefined };
}
