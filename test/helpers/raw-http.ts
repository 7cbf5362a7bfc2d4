import net from 'node:net';

/**
 * HTTP/1.1 by hand on a TCP socket, for what fetch and app.inject() cannot send: headers over
 * Node's limit, bytes that are not HTTP, a body cut short or trickled, slow headers.
 */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from connect to the end of the response. */
  ms: number;
}

export interface RawConnection {
  readonly socket: net.Socket;
  write(data: string | Buffer): void;
  /** The first complete response (status line, headers, content-length body); rejects after `timeoutMs`. */
  response(timeoutMs?: number): Promise<RawResponse>;
  /** Resolves when the server has closed the connection (milliseconds since connect). */
  readonly closed: Promise<number>;
}

export async function openRaw(port: number, host = '127.0.0.1'): Promise<RawConnection> {
  const socket = net.connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const started = performance.now();
  socket.on('error', () => undefined); // a reset after the response is expected in some tests
  let received = Buffer.alloc(0);
  let parsed: RawResponse | undefined;
  const waiters = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    parsed ??= parseResponse(received, started);
    for (const wake of waiters) wake();
  });
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - started)));
  void closed.then(() => {
    for (const wake of waiters) wake();
  });
  return {
    socket,
    closed,
    write: (data) => socket.write(data),
    response(timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (parsed) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(parsed);
          } else if (socket.destroyed) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`connection closed without a complete response; received: ${received.toString('latin1').slice(0, 300)}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no response within ${timeoutMs} ms; received: ${received.toString('latin1').slice(0, 300)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** Sends `request` on a fresh connection and returns the response. */
export async function rawRequest(port: number, request: string | Buffer, timeoutMs = 5_000): Promise<RawResponse> {
  const connection = await openRaw(port);
  try {
    connection.write(request);
    return await connection.response(timeoutMs);
  } finally {
    connection.socket.destroy();
  }
}

function parseResponse(bytes: Buffer, started: number): RawResponse | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = bytes.subarray(end + 4);
  if (body.length < length) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body: body.subarray(0, length).toString('utf8'), ms: performance.now() - started };
}
