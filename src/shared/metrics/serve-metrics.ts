import http from 'node:http';
import type { Registry } from 'prom-client';

/**
 * A tiny HTTP server for GET /metrics: the worker's (which has no API), and the API's own, on a
 * loopback port apart from the public one.
 */
export async function serveMetrics(metrics: { readonly registry: Registry }, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const actualPort = address && typeof address === 'object' ? address.port : port;
  return {
    url: `http://${host}:${actualPort}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
