# Shared by every script: strict mode, the workspace root, and the environment the edge's
# build and wrangler need. Sourced, never run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT
cd "$ROOT"

# worker-build downloads wasm-bindgen and wasm-opt from GitHub releases unless these point at
# local binaries (it honours WASM_BINDGEN_BIN, WASM_OPT_BIN and ESBUILD_BIN), and a build
# machine may reach only the package registries: toolchain.sh installs all three from them.
export WASM_BINDGEN_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WRANGLER_SEND_METRICS=false
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
