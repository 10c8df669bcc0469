// command prune: which apps a server has under a prefix (one command, read only), and which of them go.
import type { PruneRule } from '../inputs/config';
import { APP_NAME } from '../inputs/read';
import { LABEL_PREFIX } from '../remote/result';
import { remotePath } from '../rollout/lock';
import { shellQuote } from '../remote/shell';
import { formatSeconds } from '../format';

/** An app the server has under the prefix: from its state (apps/<app>/) and from Docker's labels. */
export interface ServerApp {
  name: string;
  /** The end of its last deploy or rollback (epoch ms), else its newest container's creation; undefined when neither is known. */
  lastDeployMs?: number;
  /** Anything of it is still there to remove: containers, a proxy config or recorded settings. */
  present: boolean;
}

export type PruneAction = 'remove' | 'keep';

export interface PruneDecision {
  app: string;
  action: PruneAction;
  why: string;
  lastDeployMs?: number;
}

/** The listing's exit code when docker cannot be used. */
export const LIST_EXIT_NO_DOCKER = 3;

/**
 * The POSIX sh command (run by the login shell) that lists, for one prefix: every container with
 * the app label ("container<TAB>APP<TAB>CREATED"), and each app directory under the prefix in
 * state-dir ("state<TAB>APP<TAB>SETTINGS<TAB>CONF<TAB>LAST-DEPLOY-TIME", 1/0 for the files). It reads only.
 */
export function listAppsCommand(stateDir: string, prefix: string): string {
  return [
    `command -v docker >/dev/null 2>&1 || { echo 'docker is not installed on this server (or not on the PATH of the SSH user)' >&2; exit ${LIST_EXIT_NO_DOCKER}; }`,
    `dir=${remotePath(stateDir)}`,
    `p=${shellQuote(prefix)}`,
    `out=$(docker ps -a --filter label=${LABEL_PREFIX}.app --format '{{.Label "${LABEL_PREFIX}.app"}}\t{{.CreatedAt}}') || exit ${LIST_EXIT_NO_DOCKER}`,
    `printf '%s\\n' "$out" | while IFS= read -r line; do case $line in "$p"*) printf 'container\\t%s\\n' "$line" ;; esac; done`,
    'for d in "$dir/apps/$p"*; do',
    '  [ -d "$d" ] || continue',
    '  a=${d##*/}',
    '  s=0; [ -f "$d/settings" ] && s=1',
    '  c=0; [ -f "$dir/nginx/$a.conf" ] && c=1',
    `  t=$(grep -E '"command":"(deploy|rollback)"' "$d/history.jsonl" 2>/dev/null | tail -n 1 | sed -n 's/^{"time":"\\([^"]*\\)".*/\\1/p')`,
    `  printf 'state\\t%s\\t%s\\t%s\\t%s\\n' "$a" "$s" "$c" "$t"`,
    'done',
  ].join('\n');
}

/** Docker's CreatedAt ("2026-12-07 11:07:08 +0000 UTC") as epoch ms. */
function dockerTime(text: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)/.exec(text.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The listing's lines as apps, only those under the prefix (whatever the server printed), by name. */
export function parseServerApps(output: string, prefix: string): ServerApp[] {
  const apps = new Map<string, { state?: { lastMs?: number; files: boolean }; newestContainerMs?: number; containers: number }>();
  const entry = (name: string) => apps.get(name) ?? apps.set(name, { containers: 0 }).get(name)!;
  for (const line of output.split('\n')) {
    const [kind, name, ...rest] = line.split('\t');
    if (!name || !name.startsWith(prefix) || !APP_NAME.test(name)) continue;
    if (kind === 'container') {
      const app = entry(name);
      app.containers++;
      const created = dockerTime(rest[0] ?? '');
      if (created !== undefined) app.newestContainerMs = Math.max(app.newestContainerMs ?? 0, created);
    } else if (kind === 'state' && rest.length === 3) {
      const [settings, conf, time] = rest;
      const lastMs = time ? Date.parse(time) : NaN;
      entry(name).state = { lastMs: Number.isNaN(lastMs) ? undefined : lastMs, files: settings === '1' || conf === '1' };
    }
  }
  return [...apps.entries()]
    .map(([name, app]) => ({ name, lastDeployMs: app.state?.lastMs ?? app.newestContainerMs, present: app.containers > 0 || app.state?.files === true }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function age(nowMs: number, lastMs: number): string {
  return formatSeconds(Math.max(0, Math.round((nowMs - lastMs) / 1000)));
}

/**
 * What prune does with each app still present under the prefix (PruneRule): removed when keep names
 * others, or its last deploy is older than prune-after; kept otherwise. An app whose age is unknown is
 * never removed for its age.
 */
export function decidePrune(apps: readonly ServerApp[], rule: PruneRule, nowMs: number): PruneDecision[] {
  const keep = new Set(rule.keep);
  const byKeep = rule.keep.length > 0 || rule.afterSeconds === undefined;
  return apps
    .filter((app) => app.present && app.name.startsWith(rule.prefix))
    .map(({ name, lastDeployMs }) => {
      const decide = (action: PruneAction, why: string): PruneDecision => ({ app: name, action, why, lastDeployMs });
      const old = rule.afterSeconds !== undefined && lastDeployMs !== undefined && nowMs - lastDeployMs > rule.afterSeconds * 1000;
      if (old) return decide('remove', `last deployed ${age(nowMs, lastDeployMs!)} ago, more than prune-after (${formatSeconds(rule.afterSeconds!)})`);
      if (byKeep && !keep.has(name)) return decide('remove', rule.keep.length > 0 ? 'not in keep' : 'keep and prune-after are empty: every app under the prefix goes');
      if (keep.has(name)) return decide('keep', rule.afterSeconds !== undefined && lastDeployMs === undefined ? 'in keep (its age is unknown)' : 'in keep');
      return decide('keep', lastDeployMs === undefined ? 'its last deploy time is unknown' : `last deployed ${age(nowMs, lastDeployMs)} ago`);
    });
}

/** What prune did with one app on one host. */
export interface PrunedApp {
  app: string;
  action: 'removed' | 'kept' | 'failed';
  why: string;
  lastDeployMs?: number;
  /** A removal that failed: why (the app may be partly removed; command remove finishes it). */
  error?: string;
}

export interface PruneReport {
  prefix: string;
  apps: PrunedApp[];
}
