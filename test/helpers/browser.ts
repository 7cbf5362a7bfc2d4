import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import { consoleBuilt, DEFAULT_CONSOLE_DIR } from '../../src/modules/console/console.router.js';

/** Debian's chromium package (Playwright's own browser download cannot work here), or MPANEL_CHROMIUM. */
export const CHROMIUM = process.env.MPANEL_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Before a journey starts its app: the web app built (CI builds first, in .ci/run; a checkout that
 * never built gets one build here), and Chromium installed.
 */
export function prepareBrowserJourney(): void {
  if (!consoleBuilt(DEFAULT_CONSOLE_DIR)) execFileSync('npm', ['run', '-s', 'build:web'], { stdio: 'inherit' });
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/services.sh up installs Debian's chromium`);
}

/** Chromium for a browser journey: root in CI needs --no-sandbox; nothing may leave loopback (the resolver answers nothing else). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--disable-dev-shm-usage'],
  });
}

/** One journey step: on failure, a full-page screenshot named after it in `dir`, then the error. */
export async function screenshotOnFailure<T>(page: Page, dir: string, name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    await mkdir(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true }).catch(() => undefined);
    throw error;
  }
}

/** axe-core (WCAG 2.1 A and AA) on the page as it is now: its serious and critical violations, one line each. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
}
