"""Point the HTTP routes (every module of ``medianest.api``) at test settings and a test wiring."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import medianest.api


def route_modules() -> list:
    return [importlib.import_module(f"medianest.api.{info.name}")
            for info in pkgutil.iter_modules(medianest.api.__path__)]


def use_settings(monkeypatch: pytest.MonkeyPatch, settings, registry=None) -> None:
    """Like patching ``get_settings``/``get_registry`` where each route module looks them up."""
    for module in route_modules():
        if hasattr(module, "get_settings"):
            monkeypatch.setattr(module, "get_settings", lambda: settings)
        if registry is not None and hasattr(module, "get_registry"):
            monkeypatch.setattr(module, "get_registry", lambda: registry)
