import net from 'node:net';


interface ProxiedConnection {
  client: net.Socket;
  upstream: net.Socket;
  toUpstream: Buffer[];
  toClient: Buffer[];
}

const RECORD_LIMIT = 1_000_000;

/**
 * A TCP proxy on loopback in front of a real service, for faults:
 * - `close()` cuts every connection and refuses new ones (a service that is down); `open()` again
 *   listens on the same port (it is back);
 * - `holdRequests` / `holdResponses` HOLD traffic in either direction (buffered, not dropped) while
 *   keeping the connections open: a peer that has gone silent; `release()` delivers what was held.
 * It records what went each way, so a test can wait until a request was sent, or answered, before
 * it injects the next fault. When either side closes, the other is cut and whatever was held for
 * it is dropped (never delivered later).
 */
export class TcpProxy {
  /** client → upstream data is held (e.g. Redis receives no command). */
  holdRequests = false;
  /** upstream → client data is held (e.g. PowerDNS has done the work, the worker never hears). */
  holdResponses = false;
  /** Everything the clients sent, as latin1 text (capped). */
  sent = '';
  /** Everything upstream answered, held or not (capped). */
  received = '';
  port = 0;
  private server: net.Server | undefined;
  private readonly connections = new Set<ProxiedConnection>();

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      const connection: ProxiedConnection = { client, upstream, toUpstream: [], toClient: [] };
      this.connections.add(connection);
      const cut = () => {
        connection.toUpstream = [];
        connection.toClient = [];
        client.destroy();
        upstream.destroy();
        this.connections.delete(connection);
      };
      client.on('data', (chunk: Buffer) => {
        if (this.sent.length < RECORD_LIMIT) this.sent += chunk.toString('latin1');
        if (this.holdRequests) connection.toUpstream.push(chunk);
        else upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (this.received.length < RECORD_LIMIT) this.received += chunk.toString('latin1');
        if (this.holdResponses) connection.toClient.push(chunk);
        else client.write(chunk);
      });
      for (const socket of [client, upstream]) {
        socket.on('error', cut);
        socket.on('close', cut);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Stops holding and delivers what was held on the connections still open. */
  release(): void {
    this.holdRequests = false;
    this.holdResponses = false;
    for (const connection of this.connections) {
      for (const chunk of connection.toUpstream.splice(0)) connection.upstream.write(chunk);
      for (const chunk of connection.toClient.splice(0)) connection.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const connection of this.connections) {
      connection.client.destroy();
      connection.upstream.destroy();
    }
    this.connections.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
