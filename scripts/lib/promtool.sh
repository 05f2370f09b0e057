# promtool for the Prometheus alerting rules in ops/prometheus: `promtool check rules` (syntax,
# PromQL, templates) and `promtool test rules` (the rules' unit tests on synthetic series).
# Sourced after common.sh.

ALERT_RULES="$ROOT/ops/prometheus/keffi-alerts.yml"
ALERT_RULE_TESTS="$ROOT/ops/prometheus/keffi-alerts.test.yml"

# Debian's `prometheus` package is what ships promtool. Only promtool is wanted: no recommends
# (they would bring the node exporter and its service), and no Prometheus server left running
# on :9090. invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d whether a package may
# start its service, and 101 says no: if the machine has no policy, one is put there for the
# install only and removed afterwards (also when the install fails or is interrupted).
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  step "apt-get install prometheus (once, for promtool)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  (
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      # Expanded now (the trap may run where the function's locals are gone); bash runs it on
      # SIGINT and SIGTERM too.
      trap "$sudo rm -f $policy" EXIT
      printf '#!/bin/sh\n# keffi scripts/lib/promtool.sh: no service starts while prometheus installs\nexit 101\n' |
        $sudo tee "$policy" >/dev/null
      $sudo chmod 755 "$policy"
    fi
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends prometheus
  )
  # On a systemd machine the unit is also enabled at install: keep it from starting at boot.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  command -v promtool >/dev/null || die "promtool is still missing after installing Debian's prometheus package"
}

# Checks the alerting rules and runs their unit tests; fails on any error or failed test.
check_alert_rules() {
  ensure_promtool
  step "promtool check rules / test rules (ops/prometheus)"
  promtool check rules "$ALERT_RULES"
  promtool test rules "$ALERT_RULE_TESTS"
}
