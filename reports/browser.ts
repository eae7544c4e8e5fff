import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext } from 'playwright-core';

/**
 * Headless Chromium for looking at the HTML report: Debian's `chromium` (apt-get install chromium),
 * driven by playwright-core. Nothing is downloaded; the browser gets a fresh profile folder, no network
 * chatter of its own, and is closed with that folder removed.
 */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const list = env.FLEECE_LAB_CHROMIUM ? [env.FLEECE_LAB_CHROMIUM] : CHROMIUM_CANDIDATES;
  return list.find((p) => fs.existsSync(p));
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface OpenBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** playwright's persistent context is how a profile folder of our own is given (--user-data-dir) */
export async function openChromium(
  executablePath: string,
  viewport = { width: 1400, height: 1000 },
): Promise<OpenBrowser> {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
      timeout: 60_000,
    });
    return {
      context,
      async close() {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

/** A PNG of an HTML file (the top of the page, `width`×`height`). */
export async function screenshot(html: string, png: string, width = 1400, height = 1000): Promise<void> {
  const exe = findChromium();
  if (!exe) throw new Error('chromium not found (apt-get install chromium)');
  const b = await openChromium(exe, { width, height });
  try {
    const page = await b.context.newPage();
    await page.goto(pathToFileURL(path.resolve(html)).href);
    await page.screenshot({ path: png });
  } finally {
    await b.close();
  }
}
