// `npx tsx scripts/screenshot.ts`: the README's picture of the staff dashboard, taken by hand (not
// in CI) with Debian's Chromium against a running quick start (scripts/quickstart.sh). It signs in
// through the console's own sign-in page as the seeded SUPER_ADMIN and writes
// docs/console-dashboard.png at 1280 × 800.
//
//   MPANEL_URL             the console (default http://127.0.0.1:2271)
//   MPANEL_ADMIN_EMAIL     the quick start's SUPER_ADMIN (default admin@demo.mpanel.test)
//   MPANEL_ADMIN_PASSWORD  its password (printed once by the seed; required)
//   MPANEL_CHROMIUM        the browser (default /usr/bin/chromium)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'docs', 'console-dashboard.png');
const base = (process.env.MPANEL_URL ?? 'http://127.0.0.1:2271').replace(/\/$/, '');
const email = process.env.MPANEL_ADMIN_EMAIL ?? 'admin@demo.mpanel.test';
const password = process.env.MPANEL_ADMIN_PASSWORD;
if (!password) {
  process.stderr.write('MPANEL_ADMIN_PASSWORD is required: the password the seed printed for the quick start\'s SUPER_ADMIN\n');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.MPANEL_CHROMIUM ?? '/usr/bin/chromium',
  // Nothing but loopback: the console loads no third-party asset, and this proves it.
  args: ['--no-sandbox', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
  await page.getByRole('heading', { name: 'Order to live, last 24 hours' }).waitFor();
  // Every card loaded (no "Loading …" left), then the picture.
  await page.locator('.state[role="status"]').first().waitFor({ state: 'detached' });
  await page.screenshot({ path: out });
  process.stdout.write(`wrote ${path.relative(root, out)}\n`);
} finally {
  await browser.close();
}
