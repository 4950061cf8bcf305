"""The Reflex app, assembled: pages, HTTP routes, middleware, error mapping, the live bridge.

Nothing is decided here; each piece lives in its own module."""

from __future__ import annotations

import os

import reflex as rx

from . import breaker_sync, reflex_compat
from .api import build_api, security_middleware
from .components import toasts
from .config import get_settings
from .event_errors import handle_backend_exception, handle_frontend_exception
from .handler_args import HandlerArguments
from .live_bridge import live_updates
from .log import configure_logging
from .metrics import observe_event
from .pages import (  # noqa: F401 - importing a page registers it (@rx.page)
    account,
    admin,
    admin_announcement,
    admin_audit,
    admin_downloads,
    admin_jobs,
    admin_requests,
    admin_services,
    admin_system,
    callback,
    downloads,
    errors,
    home,
    library,
    login,
    requests,  # (registers @rx.page)
    search,
    setup,
)
from .state import SignedOutTabs
from .wiring import configuration_lifespan

reflex_compat.install()

_settings = get_settings()
configure_logging(level=_settings.log_level,
                  json_lines=_settings.log_json if _settings.log_json is not None else _settings.is_production,
                  secrets_to_hide=_settings.secret_values())


def _mount_prebuilt_frontend(asgi):
    """Serve the frontend exported at image build time (no bun at run time)."""
    asgi.routes.append(reflex_compat.frontend_mount())
    return asgi


_transformers = [build_api(), security_middleware]
if os.environ.get("MEDIANEST_SERVE_PREBUILT_FRONTEND") == "1":
    _transformers.insert(0, _mount_prebuilt_frontend)

app = rx.App(
    api_transformer=_transformers,
    backend_exception_handler=handle_backend_exception,
    frontend_exception_handler=handle_frontend_exception,
    toaster=toasts.toaster(),  # backend toasts arrive as data, not as code to eval
    stylesheets=[],
)
app.add_page(errors.not_found, route="404", title="Not found · MediaNest")
app.add_middleware(HandlerArguments())  # crafted handler arguments never reach a handler
app.register_lifespan_task(configuration_lifespan)  # the saved service settings, before anything uses them
app.register_lifespan_task(live_updates)
app.register_lifespan_task(breaker_sync.following_resets)  # Reset reaches every web process
app.add_middleware(SignedOutTabs())
reflex_compat.time_event_handlers(observe_event)
