import { screenshot } from './browser.ts';

/**
 * `npx tsx reports/screenshot.ts [HTML] [PNG]`: a picture of the HTML report in headless Chromium
 * (default: reports/latest/index.html → reports/screenshot.png).
 */
const [html = 'reports/latest/index.html', png = 'reports/screenshot.png'] = process.argv.slice(2);
screenshot(html, png, 1400, 1600).then(
  () => console.log(`${png}: ${html} in headless Chromium`),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  },
);
