# MediaNest image, two stages:
#   build   - Python deps into /opt/venv, bun (from npm) and `reflex export --frontend-only`,
#             which writes the compiled frontend to .web/build/client;
#   runtime - Python + ffmpeg only (no node, no bun): the Reflex backend serves the API, the
#             websocket and that prebuilt frontend on port 3000 (MEDIANEST_SERVE_PREBUILT_FRONTEND=1).
#
# Build args:
#   API_URL       public URL members open (baked into the frontend as REFLEX_API_URL; the
#                 websocket address is derived from it). Rebuild the image when it changes.
#   NPM_REGISTRY  optional npm registry for bun/the frontend packages (default: npm's own setting).
#
#   docker build --build-arg API_URL=https://media.example.org -t medianest:local .

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ARG BUN_VERSION=1.4.5
ARG NPM_REGISTRY=""

ARG DEBIAN_FRONTEND=noninteractive
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Node/npm from Debian only to install bun; Reflex then runs the Vite build under bun.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$NPM_REGISTRY" ]; then export NPM_CONFIG_REGISTRY="$NPM_REGISTRY"; fi \
 && npm install -g "bun@${BUN_VERSION}" \
 && npm cache clean --force \
 && bun --version

RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Reflex must not download or probe anything: bun from PATH, no telemetry, no version check,
# no connectivity probe; its user dir is throwaway.
ENV REFLEX_USE_SYSTEM_BUN=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    REFLEX_HTTP_CLIENT_BIND_ADDRESS=0.0.0.0 \
    REFLEX_DIR=/tmp/reflex

ARG API_URL=http://localhost:3000

# The settings are read while compiling: development mode with a throwaway data dir, so the
# dev secrets config.py generates never reach an image layer (no secret is needed to build).
# Without NPM_REGISTRY, npm's own registry setting is passed on so Reflex does not pick one
# by timing several registries. Afterwards only the static build stays (plus the routes
# manifest, which lets the backend answer client-side routes with 200).
RUN set -eu; \
    if [ -n "$NPM_REGISTRY" ]; then NPM_CONFIG_REGISTRY="$NPM_REGISTRY"; \
    else NPM_CONFIG_REGISTRY="$(npm config get registry)"; fi; \
    export NPM_CONFIG_REGISTRY; \
    build_data="$(mktemp -d)"; \
    env -u DATABASE_URL -u REDIS_URL -u JWT_SECRET -u ENCRYPTION_KEY \
        MEDIANEST_ENV=development MEDIANEST_DATA_DIR="$build_data" REFLEX_API_URL="$API_URL" \
        reflex export --frontend-only --no-zip --env prod; \
    test -f .web/build/client/index.html; \
    find .web -mindepth 1 -maxdepth 1 ! -name build ! -name routes.json -exec rm -rf {} +; \
    rm -rf .web/build/server "$build_data" /tmp/reflex .states

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG DEBIAN_FRONTEND=noninteractive
# ffmpeg: yt-dlp merges and converts with it. Debian versions follow the base image.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

COPY docker/entrypoint.sh /usr/local/bin/medianest-entrypoint
RUN chmod 755 /usr/local/bin/medianest-entrypoint \
 && groupadd --system --gid 10001 medianest \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/medianest \
        --shell /usr/sbin/nologin medianest \
 && mkdir -p /data \
 && chown medianest:medianest /data

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REFLEX_USE_SYSTEM_BUN=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    REFLEX_HTTP_CLIENT_BIND_ADDRESS=0.0.0.0 \
    REFLEX_DIR=/tmp/reflex \
    REFLEX_STATES_WORKDIR=/tmp/reflex/states \
    MEDIANEST_ENV=production \
    MEDIANEST_SERVE_PREBUILT_FRONTEND=1 \
    MEDIANEST_DATA_DIR=/data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code stays owned by root (read-only for the app); it writes only to /data, /tmp and the
# directory below.
COPY --from=build /app/rxconfig.py /app/alembic.ini ./
COPY --from=build /app/medianest ./medianest
COPY --from=build /app/alembic ./alembic
COPY --from=build /app/assets ./assets
COPY --from=build /app/.web ./.web
# Each Reflex worker writes .web/backend/stateful_pages.json at start (even backend-only):
# the one place under /app the app user may write.
RUN mkdir -p /app/.web/backend \
 && chown medianest:medianest /app/.web/backend

USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000

# /health answers 200 when the database (and Redis, if configured) answer; 503 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["medianest-entrypoint"]
