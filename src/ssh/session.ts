import { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { Readable, pipeline } from 'node:stream';
import { HOST_KEY_FAMILIES, type HostKeyPolicy, hostKeyAlgorithms, verifyHostKey } from './hostkey';

/** How to reach one host (the validated ssh inputs, one per line of `host`). */
export interface SshConfig {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  passphrase?: string;
  hostKey: HostKeyPolicy;
  connectTimeoutSeconds: number;
  connectRetries: number;
  /** The jump host (proxy-jump) the connection goes through, with its own key and pinned host key. */
  jump?: SshConfig;
}

export interface ExecOptions {
  /** Sent as the command's standard input; ended when done. Backpressure is respected. */
  stdin?: string | Readable;
  /** Called with each complete line of standard output as it arrives. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Called with every chunk that goes into the channel, for byte counting. */
  onStdinChunk?: (bytes: number) => void;
}

export interface ExecResult {
  code: number | null; // null: the connection dropped or the command died of a signal
  signal?: string;
  stdout: string;
  stderr: string;
}

/** A failure to connect, with a message that says what to fix. `retryable`: worth another try. */
export class SshConnectError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SshConnectError';
  }
}

/** The server showed a key that is not the pinned one (or a revoked one): never retried. */
export class HostKeyError extends SshConnectError {
  constructor(message: string) {
    super(message, false);
    this.name = 'HostKeyError';
  }
}

const MAX_CAPTURE = 4 * 1024 * 1024; // keep at most this much of a command's output in memory

function splitLines(onLine: ((line: string) => void) | undefined): { push(chunk: Buffer): void; flush(): void } {
  let pending = '';
  return {
    push(chunk) {
      if (!onLine) return;
      pending += chunk.toString('utf8');
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    },
    flush() {
      if (onLine && pending !== '') onLine(pending);
      pending = '';
    },
  };
}

function describeConnectError(config: SshConfig, error: Error & { code?: string; level?: string }): SshConnectError {
  const where = `${config.user}@${config.host}:${config.port}`;
  if (error.level === 'client-authentication') {
    return new SshConnectError(`${where} refused the SSH key: is its public key in ~${config.user}/.ssh/authorized_keys on the server?`, false);
  }
  switch (error.code) {
    case 'ECONNREFUSED':
      return new SshConnectError(`nothing accepts SSH connections at ${config.host}:${config.port} (connection refused)`, true);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new SshConnectError(`the host name ${config.host} does not resolve`, error.code === 'EAI_AGAIN');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new SshConnectError(`${config.host} is unreachable from this runner (${error.code})`, true);
    case 'ECONNRESET':
      return new SshConnectError(`${where} closed the connection during the handshake`, true);
  }
  if (/timed out/i.test(error.message)) {
    return new SshConnectError(`no SSH handshake with ${config.host}:${config.port} within ${config.connectTimeoutSeconds}s (timed out)`, true);
  }
  return new SshConnectError(`cannot connect to ${where}: ${error.message}`, true);
}

/** One SSH connection to the server; every remote command of a run goes through it. */
export class SshSession {
  private closed = false;
  private dropReason: Error | undefined;

  private constructor(
    private readonly client: Client,
    readonly config: SshConfig,
    /** The session to the jump host this one goes through (proxy-jump), closed with it. */
    private readonly via?: SshSession,
  ) {
    client.on('close', () => {
      this.closed = true;
    });
    client.on('error', (error) => {
      this.dropReason = error;
    });
  }

  /** Connects with host key pinning, a timeout per attempt and retries with backoff. */
  static async connect(config: SshConfig, log: (line: string) => void = () => {}): Promise<SshSession> {
    const attempts = config.connectRetries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await SshSession.connectPinned(config);
      } catch (error) {
        const failure = error instanceof SshConnectError ? error : describeConnectError(config, error as Error);
        if (!failure.retryable || attempt >= attempts) throw failure;
        const waitSeconds = Math.min(2 ** (attempt - 1), 10);
        log(`${failure.message}; trying again in ${waitSeconds}s (attempt ${attempt + 1} of ${attempts})`);
        await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
      }
    }
  }

  /**
   * One connection with the pinned key. A server with keys of several types shows the one the client
   * prefers: known-hosts offers only its pinned types; a pinned fingerprint, whose type is unknown, is
   * looked for among the other types once the first key shown is not it.
   */
  private static async connectPinned(config: SshConfig): Promise<SshSession> {
    // Through a jump host: its own connection first (pinned by its own known_hosts line), then the
    // server's SSH inside a channel it forwards, pinned as usual.
    const via = config.jump ? await SshSession.connectPinned(config.jump) : undefined;
    try {
      return await SshSession.connectPinnedVia(config, via);
    } catch (error) {
      via?.close();
      throw error;
    }
  }

  private static async connectPinnedVia(config: SshConfig, via: SshSession | undefined): Promise<SshSession> {
    const algorithms = hostKeyAlgorithms(config.hostKey, config.host, config.port);
    if (config.hostKey.kind !== 'fingerprint') return SshSession.connectOnce(config, algorithms, via);
    let first: unknown;
    try {
      return await SshSession.connectOnce(config, undefined, via);
    } catch (error) {
      if (!(error instanceof HostKeyError)) throw error;
      first = error;
    }
    for (const family of HOST_KEY_FAMILIES) {
      try {
        return await SshSession.connectOnce(config, family, via);
      } catch (error) {
        if (!(error instanceof HostKeyError) && !/no matching|handshake failed/i.test((error as Error).message)) throw error;
      }
    }
    throw first;
  }

  /** A TCP connection to host:port opened by the jump host (ssh -J's direct-tcpip channel). */
  private forwardTo(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => {
        if (error) {
          const where = `${this.config.user}@${this.config.host}:${this.config.port}`;
          reject(new SshConnectError(`the jump host ${where} could not reach ${host}:${port}: ${error.message}`, true));
        } else {
          resolve(channel);
        }
      });
    });
  }

  private static async connectOnce(config: SshConfig, serverHostKey?: string[], via?: SshSession): Promise<SshSession> {
    const sock = via ? await via.forwardTo(config.host, config.port) : undefined;
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeyProblem: string | undefined;
      const options: ConnectConfig = {
        host: config.host,
        port: config.port,
        username: config.user,
        privateKey: config.privateKey,
        passphrase: config.passphrase,
        readyTimeout: config.connectTimeoutSeconds * 1000,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        ...(sock ? { sock: sock as never } : {}),
        ...(serverHostKey ? { algorithms: { serverHostKey: serverHostKey as never } } : {}),
        hostVerifier: (key: Buffer) => {
          const verdict = verifyHostKey(config.hostKey, config.host, config.port, key);
          if (!verdict.ok) hostKeyProblem = verdict.reason;
          return verdict.ok;
        },
      };
      const fail = (error: Error) => {
        client.removeAllListeners('ready');
        client.on('error', () => {}); // a socket error after giving up is no one's business
        client.end();
        if (hostKeyProblem) {
          reject(
            new HostKeyError(
              `refusing to connect to ${config.host}:${config.port}: ${hostKeyProblem}. This could be a man-in-the-middle attack; if the server's key really changed, update known-hosts or host-fingerprint.`,
            ),
          );
        } else {
          reject(describeConnectError(config, error));
        }
      };
      client.once('error', fail);
      client.once('ready', () => {
        client.removeListener('error', fail);
        resolve(new SshSession(client, config, via));
      });
      client.connect(options);
      // Nagle's algorithm holds a small packet back until the previous one is acknowledged, which the
      // server delays (~40 ms): every exchange of the handshake and of each command would wait on it
      // (a command ~80 ms instead of ~10). Over a jump host this is the jump connection's socket.
      client.setNoDelay(true);
    });
  }

  /** Runs a command on the server; resolves with its exit code and output, never rejects on a non-zero code. */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`the SSH connection to ${this.config.host} is closed`));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, channel: ClientChannel) => {
        if (error) {
          reject(new Error(`cannot run a command on ${this.config.host}: ${error.message}`));
          return;
        }
        let stdout = '';
        let stderr = '';
        const outLines = splitLines(options.onStdoutLine);
        const errLines = splitLines(options.onStderrLine);
        let exitCode: number | null = null;
        let exitSignal: string | undefined;
        channel.on('exit', (code: number | null, signal?: string) => {
          exitCode = code ?? null;
          exitSignal = signal ?? undefined;
        });
        channel.on('data', (chunk: Buffer) => {
          if (stdout.length < MAX_CAPTURE) stdout += chunk.toString('utf8');
          outLines.push(chunk);
        });
        channel.stderr.on('data', (chunk: Buffer) => {
          if (stderr.length < MAX_CAPTURE) stderr += chunk.toString('utf8');
          errLines.push(chunk);
        });
        const onDrop = () => finish();
        this.client.once('close', onDrop);
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          this.client.removeListener('close', onDrop);
          outLines.flush();
          errLines.flush();
          resolve({ code: exitCode, signal: exitSignal, stdout, stderr });
        };
        channel.on('close', finish);

        if (options.stdin === undefined) {
          channel.end();
        } else if (typeof options.stdin === 'string') {
          options.onStdinChunk?.(Buffer.byteLength(options.stdin));
          channel.end(options.stdin);
        } else {
          const source = options.stdin;
          if (options.onStdinChunk) source.on('data', (chunk: Buffer) => options.onStdinChunk!(chunk.length));
          pipeline(source, channel, (pipeError) => {
            // A broken pipe from the server's side shows up as the command's exit code;
            // an error of our own source is the caller's to report.
            if (pipeError && !done) (channel as unknown as { destroy(): void }).destroy();
          });
        }
      });
    });
  }

  /** Why the connection dropped, if it did. */
  get dropped(): Error | undefined {
    return this.closed ? (this.dropReason ?? new Error('connection closed')) : undefined;
  }

  close(): void {
    this.client.end();
    this.via?.close();
  }
}
