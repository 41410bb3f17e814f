#!/usr/bin/env bash
# `make test`: set up if needed, then lint, type-check and every test (real Mosquitto, influxd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
