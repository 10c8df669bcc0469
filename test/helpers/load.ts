import http from 'node:http';
import https from 'node:https';

export interface Sample {
  kind: 'steady' | 'slow';
  start: number; // ms, Date.now()
  end: number;
  status: number | null;
  body: string;
  error: string | null;
}

export interface LoadOptions {
  port: number;
  address?: string; // 127.0.0.1 (the default) or a test container's own address
  hostHeader?: string;
  steadyWorkers?: number;
  steadyPaths?: string[]; // the i-th steady worker asks the i-th of these (round robin); default /
  slowWorkers?: number;
  slowMs?: number;
  slowStaggerMs?: number; // the i-th slow worker starts i times this late, so their requests end at different times
  maxSeconds?: number; // hard stop
  maxRequests?: number; // hard stop
  tls?: { ca: string; servername: string }; // HTTPS, checked against this CA for this name
}

/**
 * A bounded load generator against the proxy on 127.0.0.1: a few workers send steady requests, others
 * send /slow requests that straddle a switch. New connection per request (no keep-alive), so every
 * request really crosses the proxy's accept path. Stops by itself after maxSeconds or maxRequests.
 */
export function startLoad(options: LoadOptions): { stop: () => Promise<Sample[]>; samples: Sample[] } {
  const samples: Sample[] = [];
  const deadline = Date.now() + (options.maxSeconds ?? 120) * 1000;
  const maxRequests = options.maxRequests ?? 50_000;
  let stopping = false;
  let sent = 0;

  const one = (kind: Sample['kind'], path: string): Promise<void> =>
    new Promise((resolve) => {
      const start = Date.now();
      sent++;
      const get = options.tls ? https.get : http.get;
      const req = get(
        { host: options.address ?? '127.0.0.1', port: options.port, path, agent: false, timeout: 15_000, headers: options.hostHeader ? { Host: options.hostHeader } : {}, ...(options.tls ?? {}) },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => {
            samples.push({ kind, start, end: Date.now(), status: res.statusCode ?? null, body: body.trim(), error: null });
            resolve();
          });
          res.on('error', (error) => {
            samples.push({ kind, start, end: Date.now(), status: res.statusCode ?? null, body, error: error.message });
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => {
        samples.push({ kind, start, end: Date.now(), status: null, body: '', error: error.message });
        resolve();
      });
    });

  const worker = async (kind: Sample['kind'], path: string, pauseMs: number, delayMs = 0) => {
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    while (!stopping && Date.now() < deadline && sent < maxRequests) {
      await one(kind, path);
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const workers = [
    ...Array.from({ length: options.steadyWorkers ?? 4 }, (_, i) => worker('steady', options.steadyPaths?.[i % options.steadyPaths.length] ?? '/', 5)),
    ...Array.from({ length: options.slowWorkers ?? 2 }, (_, i) => worker('slow', `/slow?ms=${options.slowMs ?? 2000}`, 0, i * (options.slowStaggerMs ?? 0))),
  ];
  return {
    samples,
    stop: async () => {
      stopping = true;
      await Promise.all(workers);
      return samples;
    },
  };
}

export function failures(samples: Sample[], from = 0): Sample[] {
  return samples.filter((s) => s.start >= from && (s.error !== null || s.status === null || s.status < 200 || s.status > 299));
}

/**
 * One POST /upload through the proxy that sends `bytes` at about `bytesPerSecond` (64 KiB at a time),
 * as a slow client's upload does: bounded by its size and a 120 s timeout. Resolves "STATUS BODY".
 */
export function slowUpload(port: number, hostHeader: string, bytes: number, bytesPerSecond: number): Promise<string> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(64 * 1024, 'u');
    const pauseMs = (chunk.length / bytesPerSecond) * 1000;
    const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false, timeout: 120_000, headers: { Host: hostHeader, 'Content-Length': bytes } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      res.on('error', (error) => resolve(`error ${error.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve(`error ${error.message}`));
    let sent = 0;
    const next = () => {
      if (sent >= bytes) return req.end();
      const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += part.length;
      req.write(part);
      setTimeout(next, pauseMs);
    };
    next();
  });
}

/** A WebSocket-style upgraded connection through the proxy, held open until the far end closes it (or 120 s). */
export function openUpgraded(port: number, hostHeader: string): Promise<{ closed: Promise<number>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/upgrade', agent: false, headers: { Host: hostHeader, Connection: 'Upgrade', Upgrade: 'websocket' } });
    req.on('upgrade', (_res, socket) => {
      const limit = setTimeout(() => socket.destroy(), 120_000);
      const closed = new Promise<number>((done) =>
        socket.on('close', () => {
          clearTimeout(limit);
          done(Date.now());
        }),
      );
      socket.on('error', () => undefined);
      socket.resume();
      resolve({ closed, close: () => socket.destroy() });
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** A server-sent-events request (Accept: text/event-stream) through the proxy, held open until it ends or is cut (120 s at most). */
export function openEventStream(port: number, hostHeader: string, path: string): Promise<{ closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 120_000, headers: { Host: hostHeader, Accept: 'text/event-stream' } }, (res) => {
      const closed = new Promise<number>((done) => res.socket.on('close', () => done(Date.now())));
      res.on('error', () => undefined);
      res.resume();
      resolve({ closed });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * Clients that each keep the cookies the proxy gives them (as a browser does), sending one request
 * after another until stopped (or maxSeconds): what each got, in order. Bounded like startLoad.
 */
export function startCookieClients(options: { port: number; hostHeader: string; clients: number; headers?: Record<string, string>; maxSeconds?: number }): { stop: () => Promise<string[][]> } {
  const deadline = Date.now() + (options.maxSeconds ?? 60) * 1000;
  let stopping = false;
  const get = (cookie: string): Promise<{ body: string; setCookie: string[] }> =>
    new Promise((resolve) => {
      const headers: Record<string, string> = { Host: options.hostHeader, ...(options.headers ?? {}), ...(cookie ? { Cookie: cookie } : {}) };
      const req = http.get({ host: '127.0.0.1', port: options.port, path: '/', agent: false, timeout: 15_000, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ body: `${res.statusCode} ${body.trim()}`, setCookie: res.headers['set-cookie'] ?? [] }));
        res.on('error', (error) => resolve({ body: `error ${error.message}`, setCookie: [] }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => resolve({ body: `error ${error.message}`, setCookie: [] }));
    });
  const client = async (): Promise<string[]> => {
    const answers: string[] = [];
    let cookie = '';
    while (!stopping && Date.now() < deadline) {
      const answer = await get(cookie);
      answers.push(answer.body);
      const given = answer.setCookie.map((c) => c.split(';')[0]).join('; ');
      if (given) cookie = given;
      await new Promise((r) => setTimeout(r, 20));
    }
    return answers;
  };
  const clients = Array.from({ length: options.clients }, client);
  return {
    stop: async () => {
      stopping = true;
      return Promise.all(clients);
    },
  };
}
