# MediaNest: `make run` tries it on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Reflex must never download anything here (see docs): use bun from PATH, no telemetry, no probes.
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export REFLEX_HTTP_CLIENT_BIND_ADDRESS := 0.0.0.0
export REFLEX_DIR := $(CURDIR)/.reflex
export NPM_CONFIG_REGISTRY ?= $(shell npm config get registry 2>/dev/null)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test lint install install-test bun system-test-deps services test-unit test-e2e migrate simulators worker \
	scheduler clean

help:
	@echo "make run    install what is missing, then run MediaNest with the bundled simulators"
	@echo "make test   install what is missing, start PostgreSQL and Redis if needed, lint, run every test"
	@echo "make lint   ruff (lint + import order) and mypy"

$(VENV)/.runtime-installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.runtime-installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

install: $(VENV)/.runtime-installed bun
install-test: $(VENV)/.test-installed bun system-test-deps

bun:
	@command -v bun >/dev/null 2>&1 || npm install -g bun

# Chromium drives the end-to-end tests; ffmpeg is needed by yt-dlp. Both come from Debian.
system-test-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v ffmpeg >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg >/dev/null; fi

# Start PostgreSQL and Redis the way this machine kind documents, if they are down.
services:
	@pg_isready -h 127.0.0.1 -p 5432 -q || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done; pg_isready -h 127.0.0.1 -p 5432
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@for i in $$(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; redis-cli -h 127.0.0.1 -p 6379 ping

run: install
	$(PY) -m medianest.launcher

migrate: install
	$(PY) -m alembic upgrade head

simulators: install
	$(PY) -m medianest.simulators

# Production-style background processes (with REDIS_URL set). `make run` needs neither: in
# embedded mode the web process runs the tasks and the schedules itself.
worker: install
	$(VENV)/bin/taskiq worker medianest.tasks.registry:broker --workers 1

scheduler: install
	$(VENV)/bin/taskiq scheduler medianest.tasks.registry:scheduler

# Lint and import order (ruff), types of the services, clients, models and settings (mypy): pyproject.toml.
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install-test services lint
	$(PY) -m pytest

test-unit: install-test services
	$(PY) -m pytest -m "not e2e"

test-e2e: install-test services
	$(PY) -m pytest -m e2e

clean:
	rm -rf .web .states .reflex .pytest_cache
