# The OpenAPI contract tools (schemathesis, openapi-python-client, mypy) in a virtualenv of
# their own at target/openapi-venv, installed from tests/openapi/requirements.txt (every
# version pinned, every file's hash checked). Sourced after common.sh; `ensure_schemathesis`
# costs a hash comparison when the virtualenv already matches the lock.
#
# tests/tests/e2e/openapi_contract.rs runs the tools from KEFFI_OPENAPI_VENV (this path by
# default) and fails, naming this script, when they are missing.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run directly (`scripts/lib/schemathesis.sh`): just create the virtualenv.
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

OPENAPI_VENV="$ROOT/target/openapi-venv"
OPENAPI_REQUIREMENTS="$ROOT/tests/openapi/requirements.txt"

ensure_schemathesis() {
  local stamp="$OPENAPI_VENV/.keffi-requirements-sha256"
  local want
  want="$(sha256sum "$OPENAPI_REQUIREMENTS" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$OPENAPI_VENV/bin/schemathesis" ]; then
    export KEFFI_OPENAPI_VENV="$OPENAPI_VENV"
    return 0
  fi
  local python
  python="$(command -v python3.11 || command -v python3 || true)"
  [ -n "$python" ] || die "python3 (3.10+) is required for the OpenAPI contract test"
  step "virtualenv for schemathesis at target/openapi-venv (once; about a minute)"
  rm -rf "$OPENAPI_VENV"
  "$python" -m venv "$OPENAPI_VENV"
  "$OPENAPI_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r "$OPENAPI_REQUIREMENTS"
  "$OPENAPI_VENV/bin/schemathesis" --version
  echo "$want" > "$stamp"
  export KEFFI_OPENAPI_VENV="$OPENAPI_VENV"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_schemathesis
fi
