#!/usr/bin/env bash
# `make test`: set up if needed, then lint, type-check and every test (real Mosquitto, influxd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Both cores: most integration tests wait on real services (pytest-xdist, one worker per core).
.venv/bin/pytest -n 2 "$@"
