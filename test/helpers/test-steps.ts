import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PermanentStepError } from '../../src/jobs/runner.js';
import { provisioningStepTypes } from '../../src/modules/provisioning/plan.js';
import { defineStep, type StepDefinition } from '../../src/modules/step-services.js';

/**
 * TEST-ONLY step handlers, to exercise the pipeline (order, retries, failure, kill -9) before the
 * real DNS/hosting steps exist. Never part of the production registry. Each writes JSON lines to
 * `dir/events.jsonl` (so a worker in a child process reports too) and "provisions" a resource as a
 * file, check-then-act, like a real idempotent step. Behaviour is chosen by the domain's prefix:
 *   fail2-*    PROVISION_HOSTING fails on attempts 1 and 2
 *   failall-*  PROVISION_DNS always fails
 *   bad-*      PROVISION_DNS fails permanently (no retry)
 *   slow-*     PROVISION_DNS waits 4 s after writing its start marker (to be killed mid-step)
 */
export interface StepEvent {
  event: 'start' | 'act' | 'exists' | 'end';
  type: string;
  domain: string;
  attempt: number;
  pid: number;
  at: number;
}

export function testSteps(dir: string): StepDefinition[] {
  mkdirSync(path.join(dir, 'resources'), { recursive: true });
  const log = (entry: Omit<StepEvent, 'pid' | 'at'>) =>
    appendFileSync(path.join(dir, 'events.jsonl'), `${JSON.stringify({ ...entry, pid: process.pid, at: performance.timeOrigin + performance.now() })}\n`);

  return provisioningStepTypes.map((type) =>
    defineStep({
      type,
      payload: z.looseObject({ domain: z.string() }),
      async handle({ domain }, { attempt }) {
        log({ event: 'start', type, domain, attempt });
        if (type === 'PROVISION_HOSTING' && domain.startsWith('fail2-') && attempt <= 2) throw new Error(`simulated hosting failure ${attempt}`);
        if (type === 'PROVISION_DNS' && domain.startsWith('failall-')) throw new Error('simulated PowerDNS outage');
        if (type === 'PROVISION_DNS' && domain.startsWith('bad-')) throw new PermanentStepError('simulated rejection');
        if (type === 'PROVISION_DNS' && domain.startsWith('slow-')) {
          writeFileSync(path.join(dir, `started-${domain}-${attempt}`), '');
          await new Promise((resolve) => setTimeout(resolve, 4_000));
        }
        try {
          writeFileSync(path.join(dir, 'resources', `${type}-${domain}`), String(process.pid), { flag: 'wx' });
          log({ event: 'act', type, domain, attempt });
        } catch {
          log({ event: 'exists', type, domain, attempt });
        }
        log({ event: 'end', type, domain, attempt });
        return { resource: `${type}-${domain}` };
      },
    }),
  );
}
