# Installs what the build needs, each only when missing or at the wrong version, so every run
# after the first costs seconds. Sourced after common.sh.

WORKER_BUILD_VERSION=0.8.7

# The wasm-bindgen CLI must equal the wasm-bindgen crate in Cargo.lock exactly (the edge pins
# it with `=`); worker-build does not check an override, so we do.
locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_worker_build() {
  if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
    step "cargo install worker-build $WORKER_BUILD_VERSION (once; a few minutes)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
  fi
}

ensure_wasm_bindgen_cli() {
  local want
  want="$(locked_wasm_bindgen_version)"
  [ -n "$want" ] || die "wasm-bindgen not found in Cargo.lock"
  if ! "$WASM_BINDGEN_BIN" --version 2>/dev/null | grep -qx "wasm-bindgen $want"; then
    step "cargo install wasm-bindgen-cli $want (once; a few minutes)"
    # Not --locked: with it, a dependency version pinned in its lock file is missing from
    # the registry. The CLI must equal Cargo.lock's wasm-bindgen exactly (the edge pins it).
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# npm ci only when package-lock.json changed since the last install.
ensure_node_modules() {
  command -v npm >/dev/null || die "npm is required (Node.js 20+)"
  local stamp="$ROOT/node_modules/.keffi-lock-sha256"
  local want
  want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$ROOT/node_modules/.bin/wrangler" ]; then
    step "npm ci"
    npm ci --no-audit --no-fund
    echo "$want" > "$stamp"
  fi
}

# Debian's Chromium for the dashboard's browser test (playwright-core drives it; no browser is
# downloaded from anywhere else).
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    step "apt-get install chromium (once)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core
  fi
}

# The local services the suite talks to: Postgres on 127.0.0.1:5432 (contract, e2e and fault
# tests) and Redis on 127.0.0.1:6379 (the apply benchmark's Redis-queue baseline, smoke-run in
# CI). The machine starts them; if one is down, try the start command this machine kind uses,
# then fail with one clear line instead of letting tests time out.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_services() {
  if [ -z "${KEFFI_TEST_PG_URL:-}" ] && ! port_open 5432 && command -v pg_ctlcluster >/dev/null; then
    step "starting Postgres"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    sleep 2
  fi
  [ -n "${KEFFI_TEST_PG_URL:-}" ] || port_open 5432 || die "Postgres is not reachable on 127.0.0.1:5432 (the tests need it; KEFFI_TEST_PG_URL points elsewhere)"
  if ! port_open 6379 && command -v redis-server >/dev/null; then
    step "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
    sleep 1
  fi
  port_open 6379 || die "Redis is not reachable on 127.0.0.1:6379 (the apply benchmark's baseline needs it)"
}

ensure_toolchain() {
  command -v cargo >/dev/null || die "Rust (cargo) is required: https://rustup.rs"
  ensure_wasm_target
  ensure_worker_build
  ensure_wasm_bindgen_cli
  ensure_node_modules
}

# The Worker, built once per run (release, optimised), into edge/build.
build_edge() {
  step "build the edge Worker (worker-build --profile wasm-release)"
  bash "$ROOT/scripts/lib/build-worker.sh"
}
