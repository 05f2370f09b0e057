// keffi.js — an optimistic checkout for a merchant's page. No build step, no framework.
//
//   import { checkout } from "https://ledger.example/client/keffi.js";
//   const c = checkout({ endpoint: "/api/orders", onState: (state, order) => render(state) });
//   button.onclick = () => c.confirm({ cart: "jollof-1" });
//   c.resume();   // after a reload: carry on with a pending order instead of starting again
//
// States: "syncing" (local, at once), "created", then what the ledger says: "paid", "failed",
// "needs_review" (or "refunded", "disputed"…). Only "syncing" is local; every other state comes
// from the ledger. The order's Idempotency-Key is made on this device and kept in localStorage
// with the pending order, so a reload, a closed tab or a triple tap reuses it: one order, ever.

const TERMINAL = new Set(["paid", "failed", "abandoned", "needs_review", "refunded", "partially_refunded", "disputed"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms) => ms / 2 + Math.random() * (ms / 2);

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function waitOnline(ms) {
  if (navigator.onLine) return sleep(ms);
  return new Promise((resolve) => {
    const done = () => { window.removeEventListener("online", done); clearTimeout(t); resolve(); };
    const t = setTimeout(done, ms);
    window.addEventListener("online", done);
  });
}

/// The ledger's order status, as the state this library reports.
function stateOf(status) {
  if (status === "pending") return "created";
  if (status === "abandoned") return "failed";
  return status;
}

export function checkout({ endpoint, keffi = "", onState = () => {}, storageKey = "keffi.checkout", maxBackoffMs = 10000 }) {
  let inflight = null;
  let source = null;
  let last = null;

  const load = () => { try { return JSON.parse(localStorage.getItem(storageKey)); } catch { return null; } };
  const save = (v) => localStorage.setItem(storageKey, JSON.stringify(v));
  const report = (state, order) => {
    if (state === last) return;
    last = state;
    onState(state, order);
  };

  // Sends the create request (through the merchant's backend) until it is answered, whatever the
  // network does. The same Idempotency-Key every time: retries cannot make a second order.
  async function create(pending) {
    let delay = 500;
    for (;;) {
      if (navigator.onLine) {
        try {
          const resp = await fetch(endpoint, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": pending.key },
            body: JSON.stringify(pending.body),
          });
          if (resp.ok) return await resp.json();
          // 409: the first request with this key is still running. 5xx: ours to retry.
          if (resp.status !== 409 && resp.status < 500) {
            const body = await resp.json().catch(() => ({}));
            throw Object.assign(new Error(body.error ? body.error.message : resp.statusText), { final: true });
          }
        } catch (e) {
          if (e.final) throw e;
        }
      }
      await waitOnline(jitter(delay));
      delay = Math.min(delay * 2, maxBackoffMs);
    }
  }

  function finish(order, status) {
    const state = stateOf(status.status);
    report(state, { ...order, ...status });
    if (TERMINAL.has(status.status)) {
      if (source) { source.close(); source = null; }
      const p = load();
      if (p && p.order && p.order.reference === order.reference) localStorage.removeItem(storageKey);
      return true;
    }
    return false;
  }

  // Follows the order over SSE (the browser resends Last-Event-ID when it reconnects); if the
  // stream cannot be held, polls with backoff instead.
  function follow(order) {
    return new Promise((resolve) => {
      const base = `${keffi}/client/v1/orders/${encodeURIComponent(order.reference)}`;
      const secret = `client_secret=${encodeURIComponent(order.client_secret)}`;
      let failures = 0;
      let polling = false;
      const poll = async () => {
        polling = true;
        let delay = 1000;
        for (;;) {
          try {
            const resp = await fetch(`${base}?${secret}`);
            if (resp.ok && finish(order, await resp.json())) return resolve();
            if (resp.status === 401 || resp.status === 404) { report("failed", order); return resolve(); }
            delay = 1000;
          } catch { /* offline: back off */ }
          await waitOnline(jitter(delay));
          delay = Math.min(delay * 2, 30000);
        }
      };
      if (typeof EventSource === "undefined") return poll();
      source = new EventSource(`${base}/events?${secret}`);
      source.addEventListener("status", (e) => {
        failures = 0;
        if (finish(order, JSON.parse(e.data))) resolve();
      });
      source.onerror = () => {
        failures += 1;
        // A closed stream (refused) or one that keeps failing: switch to polling.
        if (!polling && (source.readyState === EventSource.CLOSED || failures >= 4)) {
          source.close();
          source = null;
          poll();
        }
      };
    });
  }

  async function run(pending) {
    report("syncing", pending.order || null);
    try {
      if (!pending.order) {
        const order = await create(pending);
        pending.order = { reference: order.reference, client_secret: order.client_secret };
        save(pending);
        if (finish(pending.order, order)) return;
      }
      await follow(pending.order);
    } catch (e) {
      localStorage.removeItem(storageKey);
      report("failed", { error: e.message });
    }
  }

  return {
    /// Confirms an order. Calling again (a double tap, a retry) while it runs does nothing new.
    confirm(body) {
      if (inflight) return inflight;
      const stored = load();
      const pending = stored && JSON.stringify(stored.body) === JSON.stringify(body)
        ? stored
        : { key: newKey(), body };
      save(pending);
      inflight = run(pending).finally(() => { inflight = null; });
      return inflight;
    },
    /// Continues a checkout left pending by a reload or a closed tab; no-op without one.
    resume() {
      const stored = load();
      if (!stored || inflight) return inflight;
      inflight = run(stored).finally(() => { inflight = null; });
      return inflight;
    },
    /// The pending checkout kept on this device, if any.
    pending: load,
  };
}
