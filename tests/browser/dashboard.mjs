// Drives the operator dashboard in Debian's headless Chromium (playwright-core, no downloaded
// browser). Called by tests/tests/dashboard_browser.rs with a scenario file; prints one JSON
// line with what it saw and exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const scenario = JSON.parse(readFileSync(process.argv[2], "utf8"));
const result = { steps: [] };
const step = (name) => result.steps.push(name);

const browser = await chromium.launch({
  executablePath: scenario.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 1400 } });
  page.on("pageerror", (e) => { result.pageErrors = [...(result.pageErrors || []), String(e)]; });
  await page.goto(scenario.url);

  // A wrong token is refused with a message.
  await page.fill("#token", "not-the-token");
  await page.click("#signin-button");
  await page.waitForSelector("#signin-error:not([hidden])", { timeout: 5000 });
  step("wrong token refused");

  await page.fill("#token", scenario.token);
  await page.click("#signin-button");
  await page.waitForSelector("#app:not([hidden])", { timeout: 5000 });
  await page.waitForSelector(`#review li[data-id="${scenario.deadId}"]`, { timeout: 5000 });
  step("signed in");

  // Mark this page load: if the page reloads, the marker is gone.
  await page.evaluate(() => { window.__keffiMarker = "same-page"; });

  // The gateway delivers a webhook now; it must appear in the feed by itself.
  const resp = await fetch(`${scenario.url}hooks/paystack`, {
    method: "POST", headers: scenario.hook.headers, body: scenario.hook.body,
  });
  if (resp.status !== 200) throw new Error(`hook answered ${resp.status}`);
  await page.waitForSelector(`#feed li[data-key="${scenario.hook.key}"]`, { timeout: 10000 });
  await page.waitForSelector(`#orders tr[data-reference="${scenario.reference}"] .badge.paid`, { timeout: 10000 });
  result.marker = await page.evaluate(() => window.__keffiMarker);
  step("webhook appeared in the feed without a reload");

  await page.click(`#review button.replay[data-id="${scenario.deadId}"]`);
  const replayed = await page.waitForSelector(`.replayed[data-id="${scenario.deadId}"]`, { timeout: 5000 });
  result.replayText = await replayed.textContent();
  step("replayed the dead event");

  await page.screenshot({ path: scenario.screenshot, fullPage: true });
  step("screenshot");
  result.ok = true;
} catch (e) {
  result.ok = false;
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
