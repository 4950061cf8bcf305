#!/bin/sh
# MediaNest container start: apply the database migrations, then replace this shell with the
# Reflex backend, which also serves the frontend exported at build time (no bun at run time).
# Arguments, if any, run instead (e.g. `docker compose run --rm medianest alembic current`).
set -eu

# Prometheus counters of every Granian worker add up in one scrape (multiprocess mode).
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

echo "medianest: applying database migrations" >&2
alembic upgrade head

echo "medianest: starting on port 3000" >&2
exec reflex run --env prod --backend-only --backend-host 0.0.0.0 --backend-port 3000
