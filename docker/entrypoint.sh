#!/bin/sh
# MediaNest container start: apply the database migrations, then replace this shell with the
# Reflex backend, which also serves the frontend exported at build time (no bun at run time).
# Arguments, if any, run instead (e.g. `docker compose run --rm medianest alembic current`).
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

echo "medianest: applying database migrations" >&2
alembic upgrade head

echo "medianest: starting on port 3000" >&2
exec reflex run --env prod --backend-only --backend-host 0.0.0.0 --backend-port 3000
