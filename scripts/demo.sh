#!/usr/bin/env bash
# `make demo`: set up if needed, then the whole platform with simulated partners in the
# foreground (on a fresh data dir, after backfilling the network's last 7 days). If the default
# broker/InfluxDB ports are taken (e.g. by the Debian system services that `apt-get install`
# starts on a systemd host), say so and use free ports instead: we never stop a service we did
# not start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

in_use() { .venv/bin/python -c 'import sys; from core.processes import port_in_use; sys.exit(0 if port_in_use(sys.argv[1], int(sys.argv[2])) else 1)' 127.0.0.1 "$1"; }
free() { .venv/bin/python -c 'from core.processes import free_port; print(free_port())'; }

if [ -z "${MAINPORT_MQTT_PORT:-}" ] && in_use 1883; then
  MAINPORT_MQTT_PORT=$(free)
  echo "demo: port 1883 is in use (a system mosquitto?); left alone, using $MAINPORT_MQTT_PORT for MQTT" >&2
  export MAINPORT_MQTT_PORT
fi
if [ -z "${MAINPORT_MQTT_TLS_PORT:-}" ] && in_use 8883; then
  MAINPORT_MQTT_TLS_PORT=$(free)
  echo "demo: port 8883 is in use; left alone, using $MAINPORT_MQTT_TLS_PORT for MQTT over TLS" >&2
  export MAINPORT_MQTT_TLS_PORT
fi
if [ -z "${MAINPORT_INFLUX_URL:-}" ] && in_use 8086; then
  port=$(free)
  echo "demo: port 8086 is in use (a system influxd?); left alone, using $port for InfluxDB" >&2
  export MAINPORT_INFLUX_URL="http://127.0.0.1:$port"
fi
echo "demo: a fresh data dir first gets the last 7 days of the demo network backfilled (under a minute; --no-history skips it)" >&2
echo "demo: when it is up, get an operator token in another shell: .venv/bin/mainport token issue --operator" >&2
exec .venv/bin/mainport up --simulate "$@"
