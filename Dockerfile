# Mainport application image: one image for `mainport api`, `ingest`, `collect`, `simulate`,
# `provision`.
# Production wiring (broker, InfluxDB, secrets) is in docker-compose.yml; see docker/README.md.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
WORKDIR /src

# The globs let the build work before README.md / requirements.lock exist in the tree.
COPY pyproject.toml README.md* requirements.lock* ./
COPY domain/ domain/
COPY ingest/ ingest/
COPY api/ api/
COPY simulators/ simulators/
COPY core/ core/
COPY timeseries/ timeseries/
COPY access/ access/
COPY controlplane/ controlplane/
COPY derive/ derive/
COPY collector/ collector/
COPY alert/ alert/
COPY mainport/ mainport/

# Dependencies are pinned in pyproject.toml; requirements.lock, when present, also pins the
# transitive ones and is used as a constraints file. Two things pip refuses there are removed
# first: the project's own line (`-e .`, `mainport @ file://...`), and `--hash` options, because
# hash-checking mode cannot cover the local project directory being installed.
RUN if [ -f requirements.lock ]; then \
        sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' requirements.lock \
        | sed -E -e 's/[[:space:]]+--hash[=[:space:]][^[:space:]]+//g' \
        | grep -viE '^[[:space:]]*(-e[[:space:]]|--editable|mainport([[:space:]]|@|=|\[|$))' \
        > /tmp/constraints.txt || true; \
        /opt/venv/bin/pip install -c /tmp/constraints.txt . ; \
    else \
        /opt/venv/bin/pip install . ; \
    fi


FROM python:3.11-slim

# Fixed ids, so files in the shared data volume have a known owner on every host.
RUN groupadd --system --gid 10001 mainport \
    && useradd --system --uid 10001 --gid mainport --home-dir /var/lib/mainport \
        --no-create-home --shell /usr/sbin/nologin mainport \
    && install -d -o mainport -g mainport -m 0750 /var/lib/mainport

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MAINPORT_DATA_DIR=/var/lib/mainport \
    MAINPORT_PARTNERS_FILE=/app/config/partners.yaml \
    MAINPORT_API_HOST=0.0.0.0

WORKDIR /app
# Defaults baked in; compose mounts ./config over /app/config read-only.
COPY config/ config/
COPY simulators/scenarios/ simulators/scenarios/

# A named volume mounted here starts out owned by mainport (Docker copies the image's ownership
# into an empty volume), so the non-root user can write credentials and state to it.
VOLUME ["/var/lib/mainport"]
USER mainport:mainport

EXPOSE 8000
# Liveness of `mainport api` (the default command); compose replaces it for the other commands.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MAINPORT_API_PORT', '8000') + '/healthz', timeout=4)"]

CMD ["mainport", "api"]
