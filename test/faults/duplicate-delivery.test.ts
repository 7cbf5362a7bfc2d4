import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFaultWorld, expectProvisionedOnce, postOrder, startWorker, waitForSubscription, type FaultWorld, type InProcessWorker } from '../helpers/faults.js';

/**
 * Fault 1 (issue 9): the same signed order webhook delivered 10 times in a row, and another one 20
 * times at once, over HTTP while a worker provisions them, then once more after they are live:
 * exactly one order, subscription, domain, job set, zone (rows and PowerDNS), vhost and website
 * each; the first delivery is 201 and every other 200 with the same body.
 */
let world: FaultWorld;
let worker: InProcessWorker | undefined;
let base = '';

beforeAll(async () => {
  // A pool as large as the burst, so the 20 deliveries really run their transactions at once.
  world = await createFaultWorld({ env: { DATABASE_POOL_MAX: '20' } });
  base = await world.t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  try {
    await worker?.close();
  } finally {
    await world?.close();
  }
});

it('10 sequential and 20 concurrent deliveries of one signed order make one of everything', { timeout: 60_000 }, async () => {
  worker = await startWorker(world);

  const sequential = world.order();
  const inRow = [];
  for (let i = 0; i < 10; i += 1) inRow.push(await postOrder(base, sequential));
  expect(inRow.map((res) => res.status)).toEqual([201, ...Array<number>(9).fill(200)]);
  for (const res of inRow) expect(res.body).toEqual(inRow[0]?.body);

  const concurrent = world.order();
  const atOnce = await Promise.all(Array.from({ length: 20 }, () => postOrder(base, concurrent)));
  expect(atOnce.map((res) => res.status).sort()).toEqual([...Array<number>(19).fill(200), 201]);
  for (const res of atOnce) expect(res.body).toEqual(atOnce[0]?.body);

  for (const order of [sequential, concurrent]) await waitForSubscription(world, order.domain, 'ACTIVE', 30_000);
  // A webhook re-delivered long after: still the same order, nothing new.
  expect(await postOrder(base, sequential)).toEqual({ status: 200, body: inRow[0]?.body });
  expect(await postOrder(base, concurrent)).toEqual({ status: 200, body: atOnce[0]?.body });

  for (const order of [sequential, concurrent]) await expectProvisionedOnce(world, order.domain);
});
