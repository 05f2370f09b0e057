#!/usr/bin/env bash
# The Worker's build, as wrangler.toml's [build] command runs it: a bare `npx wrangler dev`
# or `npx wrangler deploy` works too, not only under scripts/dev. worker-build would download
# wasm-bindgen and wasm-opt from GitHub; these point it at the copies scripts/lib/toolchain.sh
# installs from the package registries (values already set in the environment win).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild}"
for tool in worker-build "$WASM_BINDGEN_BIN"; do
  command -v "$tool" >/dev/null || {
    echo "build-worker: $tool is missing; run scripts/dev or scripts/test once to install it" >&2
    exit 1
  }
done
cd "$ROOT/edge"
exec worker-build --profile wasm-release
