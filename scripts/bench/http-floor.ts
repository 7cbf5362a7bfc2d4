// The floor for HTTP benchmarks: a plain node:http server answering the same JSON body; with
// BENCH_HEADERS (a JSON object), also the same response headers as mPanel's answer (an
// `x-request-id` there gets a fresh UUID per response, as mPanel gives one).
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const body = process.env.BENCH_BODY ?? '{"status":"ok"}';
const extra = JSON.parse(process.env.BENCH_HEADERS ?? '{}') as Record<string, string>;
const requestId = 'x-request-id' in extra;
const server = http.createServer((_req, res) => {
  const headers: Record<string, string | number> = { ...extra, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
  if (requestId) headers['x-request-id'] = randomUUID();
  res.writeHead(200, headers);
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.stdout.write(`listening on http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
