import net from 'node:net';

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

function refuse(target: string): Error {
  return new Error(`test tried to connect to ${target}: only loopback traffic is allowed in tests`);
}

/**
 * Fails any TCP connection to an address outside loopback: tests talk to the services on this
 * machine only (never the company's 10.x network, never the internet). A host name is checked
 * once resolved (tests resolve customer domains through PowerDNS to 127.0.0.1).
 */
export function blockNonLoopbackTraffic(): void {
  const original = net.Socket.prototype.connect;
  // `connect` has several overloads; we only read the target and pass every argument through.
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const host = targetHost(args);
    if (host !== undefined && net.isIP(host) !== 0 && !LOOPBACK.test(host)) throw refuse(host);
    if (host !== undefined && net.isIP(host) === 0 && !LOOPBACK.test(host)) {
      this.once('lookup', (error: Error | null, address: string) => {
        if (!error && !LOOPBACK.test(address)) this.destroy(refuse(`${host} (${address})`));
      });
    }
    const socket: net.Socket = Reflect.apply(original, this, args);
    return socket;
  };
}

function targetHost(args: unknown[]): string | undefined {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // Node's internal normalised form: [options, cb]
  if (typeof first === 'object' && first !== null) {
    if ('path' in first && first.path) return undefined; // unix socket
    return 'host' in first && typeof first.host === 'string' ? first.host : 'localhost';
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return typeof args[1] === 'string' ? args[1] : 'localhost';
  }
  return undefined; // unix socket path
}
