// The SSH connection's socket: Nagle's algorithm off before the handshake (each command's small
// packets would otherwise wait ~40 ms on the server's delayed acknowledgement, several times per
// command). What that saves is measured in bench/ (bench/deploy.sh: the connect and every step).
import net from 'node:net';
import { Client } from 'ssh2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SshSession } from '../../../src/ssh/session';
import { fixtureKey } from '../../helpers/fixtures';

describe('SshSession.connect', () => {
  afterEach(() => vi.restoreAllMocks());

  it('turns Nagle off on its socket before the handshake starts', async () => {
    const seen: string[] = [];
    // A server that answers nothing: the handshake never ends, and the connect times out.
    const server = net.createServer((socket) => {
      seen.push('connected');
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const setNoDelay = vi.spyOn(Client.prototype, 'setNoDelay').mockImplementation(function (this: Client, noDelay?: boolean) {
      seen.push(`setNoDelay(${noDelay})`);
      return this;
    });
    try {
      await expect(
        SshSession.connect({ host: '127.0.0.1', port, user: 'deploy', privateKey: fixtureKey('ed25519'), hostKey: { kind: 'insecure' }, connectTimeoutSeconds: 1, connectRetries: 0 }),
      ).rejects.toThrow();
    } finally {
      server.close();
    }
    expect(setNoDelay).toHaveBeenCalledWith(true);
    expect(seen[0]).toBe('setNoDelay(true)'); // before the TCP connection was even made: the whole handshake has it
  });
});
