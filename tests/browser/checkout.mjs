// The demo checkout on a bad network, in Debian's headless Chromium with DevTools network
// emulation (playwright-core). Called by tests/tests/e2e/checkout_browser.rs with a scenario file;
// prints one JSON line with what it measured and exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const s = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = { scenarios: {} };
const browser = await chromium.launch({
  executablePath: s.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const ONLINE = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
const OFFLINE = { offline: true, latency: 0, downloadThroughput: 0, uploadThroughput: 0 };
// Roughly a poor 2G link: 800 ms round trip, 50 kbit/s down, 20 kbit/s up.
const SLOW_2G = { offline: false, latency: 800, downloadThroughput: 50_000 / 8, uploadThroughput: 20_000 / 8 };

async function open(name) {
  const context = await browser.newContext({ viewport: { width: 390, height: 760 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const seen = { bytes: 0, sse: [], errors: [] };
  cdp.on("Network.loadingFinished", (e) => { seen.bytes += e.encodedDataLength; });
  cdp.on("Network.dataReceived", (e) => { seen.streamBytes = (seen.streamBytes || 0) + e.encodedDataLength; });
  cdp.on("Network.eventSourceMessageReceived", (e) => { seen.sse.push(e.data.length); });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  const net = (conditions) => cdp.send("Network.emulateNetworkConditions", conditions);
  const result = { steps: [] };
  out.scenarios[name] = result;
  return { context, page, net, seen, result };
}

const state = (page) => page.locator("#status").getAttribute("data-state");
async function waitState(page, want, timeout = 20000) {
  await page.waitForSelector(`#status[data-state="${want}"]`, { timeout });
}
async function reference(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("keffi.checkout") || "null")?.order?.reference
    ?? document.getElementById("detail").textContent.match(/demo_[0-9a-f]+/)?.[0]);
}
async function pay(ref) {
  const r = await fetch(`${s.url}demo/api/simulate-payment/${ref}`, { method: "POST" });
  if (r.status !== 200) throw new Error(`simulate answered ${r.status}`);
}
async function shot(page, name) { await page.screenshot({ path: `${s.artifacts}/checkout-${name}.png`, fullPage: true }); }

try {
  // 1. Offline at the moment of "Confirm order".
  {
    const { page, net, result, seen } = await open("offline_confirm");
    await page.goto(`${s.url}demo/checkout`);
    await net(OFFLINE);
    await page.click("#confirm");
    result.shownImmediately = await state(page);
    await page.waitForTimeout(1500);
    result.stillSyncingOffline = await state(page);
    await net(ONLINE);
    await waitState(page, "created");
    result.reference = await reference(page);
    await pay(result.reference);
    await waitState(page, "paid");
    result.final = await state(page);
    result.errors = seen.errors;
    await shot(page, "offline-then-paid");
  }

  // 2. Three taps, then a reload while the create request is in flight.
  {
    const { page, net, result, seen } = await open("reload_mid_request");
    await page.goto(`${s.url}demo/checkout`);
    await net({ offline: false, latency: 2500, downloadThroughput: -1, uploadThroughput: -1 });
    await page.click("#confirm");
    await page.click("#confirm");
    await page.click("#confirm");
    await page.waitForTimeout(600);
    result.beforeReload = await state(page);
    await net(ONLINE);
    await page.reload();
    await waitState(page, "created");
    result.reference = await reference(page);
    await pay(result.reference);
    await waitState(page, "paid");
    result.final = await state(page);
    result.errors = seen.errors;
    await shot(page, "reload-then-paid");
  }

  // 3. A slow 2G-like link: usable, flips to paid; bytes recorded.
  {
    const { page, net, result, seen } = await open("slow_2g");
    await net(SLOW_2G);
    const started = Date.now();
    await page.goto(`${s.url}demo/checkout`, { timeout: 30000 });
    await page.waitForSelector("#confirm");
    result.pageLoadMs = Date.now() - started;
    result.pageBytes = seen.bytes;
    await page.click("#confirm");
    result.shownImmediately = await state(page);
    await waitState(page, "created", 30000);
    result.reference = await reference(page);
    await pay(result.reference);
    await waitState(page, "paid", 30000);
    result.final = await state(page);
    result.totalBytes = seen.bytes + (seen.streamBytes || 0);
    result.sseMessageBytes = seen.sse;
    result.errors = seen.errors;
    await shot(page, "slow-2g-paid");
  }

  // 4. The status stream cut mid-way (the server ends streams after KEFFI_SSE_MAX_SECONDS, set
  // to 2 s here, and the reconnect fails while offline); the payment lands while it is down.
  {
    const { page, net, result, seen } = await open("stream_cut");
    await page.goto(`${s.url}demo/checkout`);
    await page.click("#confirm");
    await waitState(page, "created");
    result.reference = await reference(page);
    await net(OFFLINE);
    await page.waitForTimeout(3000);
    await pay(result.reference);
    await page.waitForTimeout(500);
    result.whileCut = await state(page);
    await net(ONLINE);
    await waitState(page, "paid", 30000);
    result.final = await state(page);
    result.errors = seen.errors;
    await shot(page, "stream-cut-paid");
  }
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(out.ok ? 0 : 1);
