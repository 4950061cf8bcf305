"""Serving the video site: ``VideoSiteStack`` for an event loop of one's own (the runner),
``serve_in_thread`` for tests and other in-process callers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from medianest.simulators.plex import SingleAppStack
from medianest.simulators.threads import ServerThread, ThreadHandle
from medianest.simulators.video_site.catalogue import DEFAULT_LARGE_RATE
from medianest.simulators.video_site.routes import create_video_site_app
from medianest.simulators.video_site.state import VideoSite

logger = logging.getLogger(__name__)


class VideoSiteStack(SingleAppStack):
    """The site bound to a socket (port 0 picks a free one), ready to be served in an event loop;
    options go to ``VideoSite`` (``data_dir``, ``large_rate_bytes_per_s``, ``ffmpeg``). Its clips
    are made (or found in the cache) before the constructor returns."""

    sim_class = VideoSite
    app_factory = staticmethod(create_video_site_app)

    @property
    def site(self) -> VideoSite:
        """The state served."""
        site: VideoSite = self.sim
        return site

    def request_exit(self) -> None:
        """Ask the server to stop (a second call forces it); slow downloads end at once."""
        self.site.clear_faults()  # an "outage" would otherwise keep requests (and the server) hanging
        self.site.stopping.set()
        self._stop_server()


@dataclass
class VideoSiteHandle(ThreadHandle):
    """A running video site (see ``serve_in_thread``)."""

    site: VideoSite
    url: str
    _runner: ServerThread

    def _before_stop(self) -> None:
        self.site.clear_faults()
        self.site.stopping.set()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, *, data_dir: Path | str | None = None,
                    large_rate_bytes_per_s: int = DEFAULT_LARGE_RATE, log_level: str = "warning",
                    advertise_host: str | None = None, ffmpeg: str = "ffmpeg") -> VideoSiteHandle:
    """Make (or reuse) the clips, then serve the site with uvicorn in a daemon thread.

    Args:
        host: Interface to bind.
        port: Port (0 picks a free one).
        data_dir: Folder whose ``video-site/`` subfolder caches the clips (default: a folder
            in the system's temporary directory, ``state.default_data_dir()``).
        large_rate_bytes_per_s: Serving rate of ``/playlists/large``'s file (0 = full speed).
        log_level: uvicorn's log level.
        advertise_host: Host name to put in the URL (defaults to ``host``).
        ffmpeg: The ffmpeg executable.

    Returns:
        A handle with ``.site``, ``.url`` and ``.stop()``.

    Raises:
        MediaError: ffmpeg is missing or failed.
        RuntimeError: If the server does not start within 10 seconds.
    """
    stack = VideoSiteStack(host, port, log_level=log_level, advertise_host=advertise_host, data_dir=data_dir,
                           large_rate_bytes_per_s=large_rate_bytes_per_s, ffmpeg=ffmpeg)
    runner = ServerThread("video-site-simulator", stack.serve, started=lambda: stack.started,
                          request_exit=stack.request_exit)
    logger.info("Video site simulator on %s", stack.url)
    return VideoSiteHandle(stack.site, stack.url, runner)


#: The name the other simulators' serving functions follow.
serve_video_site_in_thread = serve_in_thread
