#!/usr/bin/env bash
# Idempotent set-up on a Debian machine as root: Debian packages for the broker and the time
# series store, then .venv with the project and its pinned dependencies.
#
# On a host with systemd, installing mosquitto/influxdb also starts their system services on
# 1883/8086. We never stop a service we did not start: during our own apt-get install a
# policy-rc.d keeps new services from starting, and services already running are reported so the
# stack can be pointed at other ports (scripts/demo.sh does that by itself).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium by default: `make test` drives it headless (tests/integration/dashboard/).
want_browser=1
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --no-browser) want_browser=0 ;;
    *) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf 'bootstrap: %s\n' "$*" >&2; }

need_pkgs=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need_pkgs+=(mosquitto)
# mosquitto_pub: the self-service tests run the "how to connect" snippets as a partner pastes them.
command -v mosquitto_pub >/dev/null 2>&1 || need_pkgs+=(mosquitto-clients)
command -v influxd >/dev/null 2>&1 || need_pkgs+=(influxdb)
# Net-SNMP's agent and tools: the collector's tests poll a real snmpd (tests/integration/collector/).
command -v snmpd >/dev/null 2>&1 || [ -x /usr/sbin/snmpd ] || need_pkgs+=(snmpd)
command -v snmpbulkwalk >/dev/null 2>&1 || need_pkgs+=(snmp)
# PostgreSQL's server: the control-plane tests run every database test on SQLite and on a real
# PostgreSQL cluster (tests/integration/postgres_support.py: initdb + postgres, not a service).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
# Prometheus Alertmanager: the alert tests post to a real one (tests/integration/alert/).
command -v prometheus-alertmanager >/dev/null 2>&1 || need_pkgs+=(prometheus-alertmanager)
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${need_pkgs[*]} (run as root, or: sudo apt-get install ${need_pkgs[*]})"
    exit 1
  fi
  # Keep apt from starting the packages' system services: Mainport runs its own broker and
  # InfluxDB as child processes. Only done when no policy-rc.d exists; an existing one is left as is.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  cleanup_policy() { [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; return 0; }
  trap cleanup_policy EXIT
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2
  cleanup_policy
  trap - EXIT
fi

# Report (never stop) system services that hold the default ports.
for unit in mosquitto influxdb snmpd postgresql; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] \
     && systemctl is-active --quiet "$unit" 2>/dev/null; then
    log "found the system service '$unit' running; leaving it alone (Mainport runs its own on free ports)"
  fi
done

py=${PYTHON:-python3.11}
command -v "$py" >/dev/null 2>&1 || py=python3
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($py --version 2>&1)"
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  log "installing the project and its pinned dependencies (requirements.lock) into .venv"
  # This machine's pip config lists local wheel folders that may be absent; pip warns per package.
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]' \
    2> >(grep -v "^WARNING: Location 'file:" >&2)
  touch "$stamp"
fi
