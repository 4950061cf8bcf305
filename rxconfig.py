"""Reflex configuration. MediaNest's own settings (medianest/config.py) drive it."""

import reflex as rx

from medianest.config import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="medianest",
    # Setting this switches Reflex's state manager to Redis (needed for several workers).
    redis_url=_settings.redis_url or None,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    cors_allowed_origins=_settings.allowed_origins,
    trusted_proxy_hops=_settings.trusted_proxy_hops,
    default_color_mode="system",
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="amber", gray_color="slate", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
