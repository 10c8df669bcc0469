/** One server to deploy to, as the `host` input names it: one line each, `[user@]host[:port]`. */
export interface HostTarget {
  host: string;
  port: number;
  user: string;
}

/** A login name as useradd allows it (a trailing $ for machine accounts). */
export const USER_NAME = /^[a-z_][a-z0-9_.-]*\$?$/i;
// A DNS name or IPv4 address; IPv6 goes in brackets ([2001:db8::1]:22), as in known_hosts.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IPV6 = /^\[([0-9A-Fa-f:.]+)\]$/;

/**
 * Reads the `host` input's lines; `user` and `port` are the defaults of lines that do not say.
 * Throws an Error naming the line that cannot be read, or a host given twice.
 */
export function parseHosts(text: string, defaults: { user: string; port: number }): HostTarget[] {
  const targets: HostTarget[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    targets.push(parseHostLine(line, defaults));
  }
  const seen = new Set<string>();
  for (const t of targets) {
    const key = `${t.host.toLowerCase()}:${t.port}`;
    if (seen.has(key)) throw new Error(`${hostLabel(t)} is given twice`);
    seen.add(key);
  }
  return targets;
}

function parseHostLine(line: string, defaults: { user: string; port: number }): HostTarget {
  const fail = (why: string): never => {
    throw new Error(`'${line}' ${why} (expected host, user@host or user@host:port, one per line)`);
  };
  if (/\s/.test(line) || line.startsWith('-')) fail('is not a host name or address');
  let rest = line;
  let user = defaults.user;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER_NAME.test(user)) fail(`has '${user}', which is not a valid user name`);
  }
  let port = defaults.port;
  const portMatch = /^(.*[^:]):(\d+)$/.exec(rest);
  if (portMatch && (!rest.includes(':', rest.indexOf(':') + 1) || rest.startsWith('['))) {
    rest = portMatch[1];
    port = Number(portMatch[2]);
    if (!(port >= 1 && port <= 65535)) fail(`has port ${portMatch[2]}, outside 1-65535`);
  }
  const v6 = IPV6.exec(rest);
  if (v6) return { host: v6[1], port, user };
  if (!NAME.test(rest)) fail('is not a host name or address');
  return { host: rest, port, user };
}

/** How a host is named in logs and the summary: user@host, with :port when it is not 22. */
export function hostLabel(t: HostTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${host}${t.port === 22 ? '' : `:${t.port}`}`;
}
