// The host input's lines, and how a host is named in logs.
import { describe, expect, it } from 'vitest';
import { hostLabel, parseHosts } from '../../../src/inputs/hosts';

describe('parseHosts', () => {
  const defaults = { user: 'deploy', port: 22 };
  const cases: Array<[string, string, Array<[string, number, string]>]> = [
    ['one host', 'web1.example.com', [['web1.example.com', 22, 'deploy']]],
    [
      'user and port per line',
      'a.example.com\nops@b.example.com:2222\n  10.0.0.7:22022  ',
      [
        ['a.example.com', 22, 'deploy'],
        ['b.example.com', 2222, 'ops'],
        ['10.0.0.7', 22022, 'deploy'],
      ],
    ],
    [
      'IPv6 in brackets',
      '[2001:db8::1]:2200\nroot@[::1]',
      [
        ['2001:db8::1', 2200, 'deploy'],
        ['::1', 22, 'root'],
      ],
    ],
    ['blank lines and comments skipped', '\n# the first\nweb1\n\n', [['web1', 22, 'deploy']]],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    expect(parseHosts(text, defaults).map((t) => [t.host, t.port, t.user])).toEqual(expected);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['a space inside a line', 'web1 web2', /'web1 web2' is not a host name or address/],
    ['an option', '-oProxyCommand=x', /is not a host name or address/],
    ['IPv6 without brackets', '2001:db8::1', /is not a host name or address/],
    ['a port out of range', 'web1:70000', /has port 70000, outside 1-65535/],
    ['a bad user', 'bad user@web1', /is not a host name/],
    ['a user that is not one', '1x@web1', /has '1x', which is not a valid user name/],
    ['the same host twice', 'web1\ndeploy@web1:22', /deploy@web1 is given twice/],
  ];
  it.each(bad)('refuses %s', (_name, text, message) => {
    expect(() => parseHosts(text, defaults)).toThrow(message);
  });

  it('labels a host as logs name it', () => {
    expect(hostLabel({ host: 'web1', port: 22, user: 'deploy' })).toBe('deploy@web1');
    expect(hostLabel({ host: '::1', port: 2200, user: 'root' })).toBe('root@[::1]:2200');
  });
});
