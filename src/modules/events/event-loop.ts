import { dispatchEvents } from './event-dispatcher.js';
import { deliverDue, type DeliveryDeps } from './event-delivery.js';

export interface EventLoop {
  /** Finishes the run in progress (its sends complete and are recorded), then stops. */
  close(): Promise<void>;
}

/**
 * The worker's event loop: dispatch new events, send what is due, again at once while there was
 * work, else after `pollMs`. Several workers may run it: claims and the unique delivery key keep
 * them from sending anything twice.
 */
export function startEventLoop(deps: DeliveryDeps, pollMs: number): EventLoop {
  let closing = false;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const running = (async () => {
    while (!closing) {
      let busy = false;
      try {
        const dispatched = await dispatchEvents(deps.db);
        const run = await deliverDue(deps);
        busy = dispatched > 0 || run.claimed > 0;
      } catch (error) {
        deps.logger.warn({ err: error }, 'event delivery run failed; retrying');
      }
      if (!busy && !closing) await sleep(pollMs);
    }
  })();
  return {
    async close() {
      closing = true;
      wake?.();
      await running;
    },
  };
}
