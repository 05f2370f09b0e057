// Drives the operator dashboard in Debian's headless Chromium (playwright-core, no downloaded
// browser). Called by tests/tests/e2e/dashboard_browser.rs with a scenario file; prints one JSON
// line with what it saw and exits non-zero on any failure. Screenshots go to
// scenario.artifacts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const scenario = JSON.parse(readFileSync(process.argv[2], "utf8"));
const result = { steps: [] };
const step = (name) => result.steps.push(name);
const shot = (page, name, opts = {}) => page.screenshot({ path: join(scenario.artifacts, name), fullPage: true, ...opts });
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

const browser = await chromium.launch({
  executablePath: scenario.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: PHONE });
  page.on("pageerror", (e) => { result.pageErrors = [...(result.pageErrors || []), String(e)]; });
  // Chromium reports what the Content-Security-Policy blocked on the console.
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) result.cspViolations = [...(result.cspViolations || []), m.text()];
  });
  const loaded = await page.goto(scenario.url);
  result.headers = loaded.headers();

  // Another site framing the dashboard gets Chromium's error page in the frame, not the page.
  {
    const framer = await browser.newPage();
    await framer.setContent(`<iframe id="f" src="${scenario.url}"></iframe>`);
    await framer.waitForTimeout(1000);
    const frame = framer.frames().find((f) => f !== framer.mainFrame());
    result.framedUrl = frame ? frame.url() : null;
    result.framedHasSignIn = frame ? await frame.$("#token").then((e) => e !== null).catch(() => false) : false;
    await framer.close();
  }

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

  // The charts: wait for the per-minute lines to have points.
  await page.waitForSelector("#chart-throughput svg circle.point", { timeout: 15000 });
  await shot(page, "dashboard.png");
  await page.setViewportSize(DESKTOP);
  await shot(page, "dashboard-overview.png");
  result.chartPoints = await page.locator("#chart-throughput svg circle.point").count();
  result.deadBars = await page.locator("#chart-dead svg rect.bar").count();
  await page.locator("#charts").screenshot({ path: join(scenario.artifacts, "dashboard-charts.png") });
  step("charts drawn");

  // Search by the charge's idempotency key: it names one reference, whose timeline opens.
  await page.fill("#q", scenario.hook.key);
  await page.click("#search-button");
  await page.waitForSelector("#view-timeline:not([hidden]) #timeline li.entry.journal_posted", { timeout: 5000 });
  const kinds = await page.$$eval("#timeline li.entry", (lis) => lis.map((li) => li.dataset.kind));
  if (kinds[0] !== "order_created") throw new Error(`timeline starts with ${kinds[0]}`);
  result.timelineCreated = await page.locator("#timeline li.entry.order_created").first().textContent();
  result.timelineOrderCard = await page.locator("#timeline-order").textContent();
  // The charge's raw body, opened.
  const charge = page.locator("#timeline li.entry.event_received", { hasText: "charge.success" }).first();
  await charge.locator("details.raw summary").click();
  result.timelineBody = await charge.locator("pre.body").textContent();
  // The orphaned refund has a Replay button here; replaying it applies it.
  await page.locator(`#timeline li.entry.event_received button.replay[data-id="${scenario.refundId}"]`).scrollIntoViewIfNeeded();
  await shot(page, "dashboard-timeline.png");
  await page.click(`#timeline button.replay[data-id="${scenario.refundId}"]`);
  const timelineReplayed = await page.waitForSelector(`#timeline .replayed[data-id="${scenario.refundId}"]`, { timeout: 5000 });
  result.timelineReplay = await timelineReplayed.textContent();
  // The timeline reloads: the refund is applied and posted a journal transaction.
  await page.waitForFunction(() => document.querySelectorAll("#timeline li.entry.journal_posted").length >= 2, null, { timeout: 5000 });
  await page.setViewportSize(PHONE);
  await shot(page, "dashboard-timeline-phone.png");
  await page.setViewportSize(DESKTOP);
  step("searched, read the timeline, replayed from it");

  // Events: applied Paystack events, paged older, older, then newer back to the first page.
  await page.click('#tabs button[data-view="events"]');
  await page.waitForSelector("#view-events:not([hidden])");
  await page.selectOption("#filter-status", "applied");
  await page.selectOption("#filter-provider", "paystack");
  const ids = () => page.$$eval("#events tr[data-id]", (rows) => rows.map((r) => Number(r.dataset.id)));
  // Each load of the list counts itself in #events[data-loads].
  const pageChange = async (button) => {
    const before = await page.getAttribute("#events", "data-loads");
    await page.click(button);
    await page.waitForFunction((b) => document.getElementById("events").dataset.loads !== b, before, { timeout: 5000 });
  };
  await pageChange("#filter-apply");
  const statuses = await page.$$eval("#events tr[data-id] .badge", (b) => [...new Set(b.map((x) => x.textContent))]);
  if (statuses.join() !== "applied") throw new Error(`statuses shown: ${statuses}`);
  result.pages = [await ids()];
  await pageChange("#events-older");
  result.pages.push(await ids());
  await shot(page, "dashboard-events.png");
  await pageChange("#events-older");
  result.pages.push(await ids());
  await pageChange("#events-newer");
  await pageChange("#events-newer");
  result.backToFirst = await ids();
  // Another provider: nothing.
  await page.selectOption("#filter-provider", "stripe");
  await pageChange("#filter-apply");
  result.stripeRows = (await ids()).length;
  step("filtered and paged");

  // Bulk replay of every dead Paystack event: dry run, then confirm.
  await page.selectOption("#filter-status", "dead");
  await page.selectOption("#filter-provider", "paystack");
  await pageChange("#filter-apply");
  await page.click("#bulk-dry-run");
  await page.waitForSelector("#bulk-preview:not([hidden])", { timeout: 5000 });
  result.bulkMatched = await page.getAttribute("#bulk-count", "data-matched");
  await page.locator("#bulk").scrollIntoViewIfNeeded();
  await shot(page, "dashboard-bulk-replay.png");
  await page.click("#bulk-confirm");
  await page.waitForSelector("#bulk-result:not([hidden])", { timeout: 15000 });
  result.bulkReplayed = await page.getAttribute("#bulk-result", "data-replayed");
  result.bulkText = await page.textContent("#bulk-result");
  await shot(page, "dashboard-bulk-replay-done.png");
  step("bulk replay");

  // A platform token picks a merchant: the orders shown are that merchant's alone.
  await page.click('#tabs button[data-view="overview"]');
  await page.waitForSelector("#merchant-picker:not([hidden])", { timeout: 5000 });
  result.merchants = await page.$$eval("#merchant option", (os) => os.map((o) => o.value));
  await page.selectOption("#merchant", scenario.merchant);
  await page.waitForSelector(`#orders tr[data-reference="${scenario.merchantOrder}"]`, { timeout: 10000 });
  result.pickedOrders = await page.$$eval("#orders tr[data-reference]", (rows) => rows.map((r) => r.dataset.reference));
  await page.waitForSelector("#held tr", { timeout: 10000 });
  result.platformHeld = await page.textContent("#held");
  await shot(page, "dashboard-merchant-picked.png", { fullPage: false });
  step("picked a merchant");

  // A merchant's token: no picker, no edge, reconciler or held panels, its own orders only.
  await page.click("#signout");
  await page.waitForSelector("#signin:not([hidden])", { timeout: 5000 });
  await page.fill("#token", scenario.merchantToken);
  await page.click("#signin-button");
  await page.waitForSelector(`#orders tr[data-reference="${scenario.merchantOrder}"]`, { timeout: 10000 });
  result.merchantSees = {
    picker: await page.isVisible("#merchant-picker"),
    shards: await page.isVisible("#shards"),
    held: await page.isVisible("#held"),
    orders: await page.$$eval("#orders tr[data-reference]", (rows) => rows.map((r) => r.dataset.reference)),
    me: await page.textContent("#me"),
  };
  step("signed in as a merchant");

  result.ok = true;
} catch (e) {
  result.ok = false;
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
