"""Run the plex.tv, Plex Media Server, Overseerr, Uptime Kuma and video site simulators:
``python -m medianest.simulators``.

All apps are served by uvicorn in one process and one event loop. The Overseerr simulator
is attached to the PMS simulator, so a request that becomes available shows up in the Plex
library. The video site makes its demo clips with ffmpeg before serving (about a second, once:
they are cached under ``--video-data``). SIGINT or SIGTERM stops them cleanly (a second signal
forces the stop).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from medianest.simulators.overseerr import FLAVOURS as OVERSEERR_FLAVOURS
from medianest.simulators.overseerr import OverseerrStack
from medianest.simulators.plex import SimulatorStack
from medianest.simulators.uptime_kuma import VERSIONS as KUMA_VERSIONS
from medianest.simulators.uptime_kuma import KumaStack
from medianest.simulators.video_site import MediaError, VideoSiteStack, default_data_dir

logger = logging.getLogger("medianest.simulators")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the runner."""
    parser = argparse.ArgumentParser(prog="python -m medianest.simulators",
                                     description="Serve the plex.tv, Plex Media Server, Overseerr, "
                                                 "Uptime Kuma and video site simulators.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--plex-tv-port", type=int, default=32410, help="plex.tv port (default 32410, 0 = any)")
    parser.add_argument("--pms-port", type=int, default=32400, help="PMS port (default 32400, 0 = any)")
    parser.add_argument("--auto-approve", metavar="USER", default=None,
                        help="approve every new pin as USER (demo mode)")
    parser.add_argument("--auto-approve-after", metavar="SECONDS", type=float, default=1.0,
                        help="delay before the auto-approval (default 1.0)")
    parser.add_argument("--pms-library-root", metavar="DIR", default=None,
                        help="folder holding 'Movies' and 'TV Shows' for library scans")
    parser.add_argument("--pms-downloads-root", metavar="DIR", default=None,
                        help="folder of the PMS 'YouTube' (Other Videos) section, e.g. MediaNest's downloads "
                             "root (default: <library root>/YouTube)")
    parser.add_argument("--scan-delay", type=float, default=0.5, help="seconds a library refresh takes")
    parser.add_argument("--strict", action="store_true",
                        help="answer 406 on plex.tv JSON endpoints without Accept: application/json")
    parser.add_argument("--advertise-host", default=None,
                        help="host name to put in URLs handed to clients (default: --host)")
    parser.add_argument("--kuma-port", type=int, default=3001, help="Uptime Kuma port (default 3001, 0 = any)")
    parser.add_argument("--kuma-version", default="2.x", choices=list(KUMA_VERSIONS),
                        help="Uptime Kuma version to imitate (default 2.x)")
    parser.add_argument("--overseerr-port", type=int, default=5055,
                        help="Overseerr port (default 5055, 0 = any)")
    parser.add_argument("--overseerr-flavour", default="overseerr", choices=list(OVERSEERR_FLAVOURS),
                        help="imitate Overseerr 1.34 or Seerr 3.x (default overseerr)")
    parser.add_argument("--overseerr-auto-approve-after", metavar="SECONDS", type=float, default=None,
                        help="approve pending Overseerr requests after SECONDS (default: never)")
    parser.add_argument("--overseerr-available-after", metavar="SECONDS", type=float, default=None,
                        help="make approved Overseerr requests available (and add them to the Plex "
                             "library) after SECONDS (default: never)")
    parser.add_argument("--video-port", type=int, default=8765,
                        help="demo video site port (default 8765, 0 = any)")
    parser.add_argument("--video-data", metavar="DIR", type=Path, default=None,
                        help="folder whose video-site/ subfolder caches the demo clips "
                             f"(default {default_data_dir()})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


async def _run(stack: SimulatorStack, kuma: KumaStack | None = None, overseerr: OverseerrStack | None = None,
               video: VideoSiteStack | None = None) -> None:
    loop = asyncio.get_running_loop()
    others: list[tuple[str, OverseerrStack | KumaStack | VideoSiteStack]] = [
        (name, other) for name, other in (("Overseerr", overseerr), ("Uptime Kuma", kuma), ("Video site", video))
        if other is not None]

    def request_exit() -> None:
        stack.request_exit()
        for _, other in others:
            other.request_exit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_exit)
    serving = asyncio.ensure_future(stack.serve())
    others_serving = [asyncio.ensure_future(other.serve()) for _, other in others]
    while not stack.started and not serving.done():
        await asyncio.sleep(0.02)
    if stack.started:
        logger.info("plex.tv simulator on %s", stack.plex_tv_url)
        logger.info("PMS simulator on %s", stack.pms_url)
    for (name, other), other_serving in zip(others, others_serving, strict=True):
        while not other.started and not other_serving.done():
            await asyncio.sleep(0.02)
        if other.started:
            logger.info("%s simulator on %s", name, other.url)
    await asyncio.gather(serving, *others_serving)


def main(argv: list[str] | None = None) -> int:
    """Parse options, serve until a signal arrives, return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        stack = SimulatorStack(
            args.host, args.plex_tv_port, args.pms_port,
            log_level=args.log_level if args.log_level != "info" else "warning",
            advertise_host=args.advertise_host,
            library_root=args.pms_library_root,
            downloads_root=args.pms_downloads_root,
            scan_delay=args.scan_delay,
            strict=args.strict,
            auto_approve=args.auto_approve,
            auto_approve_after=args.auto_approve_after,
        )
    except OSError as exc:
        logger.error("cannot bind: %s", exc)
        return 1
    if args.auto_approve and args.auto_approve not in stack.sim.accounts:
        logger.error("unknown --auto-approve user %r", args.auto_approve)
        return 2
    try:
        # Monitors beat every 20 s (Kuma's shortest interval) so the demo looks alive.
        kuma = KumaStack(args.host, args.kuma_port, version=args.kuma_version, auto_beat_seconds=20.0,
                         log_level=args.log_level if args.log_level != "info" else "warning",
                         advertise_host=args.advertise_host)
    except OSError as exc:
        logger.error("cannot bind the Uptime Kuma simulator (--kuma-port %s): %s", args.kuma_port, exc)
        return 1
    try:
        overseerr = OverseerrStack(args.host, args.overseerr_port, flavour=args.overseerr_flavour, plex=stack.sim,
                                   auto_approve_after_s=args.overseerr_auto_approve_after,
                                   available_after_s=args.overseerr_available_after,
                                   log_level=args.log_level if args.log_level != "info" else "warning",
                                   advertise_host=args.advertise_host)
    except OSError as exc:
        logger.error("cannot bind the Overseerr simulator (--overseerr-port %s): %s", args.overseerr_port, exc)
        return 1
    except ValueError as exc:
        logger.error("bad Overseerr simulator option: %s", exc)
        return 2
    try:
        video = VideoSiteStack(args.host, args.video_port, data_dir=args.video_data,
                               log_level=args.log_level if args.log_level != "info" else "warning",
                               advertise_host=args.advertise_host)
    except (OSError, MediaError) as exc:  # a busy port, an unwritable --video-data, no ffmpeg
        logger.error("cannot start the video site simulator (--video-port %s, --video-data %s): %s",
                     args.video_port, args.video_data or default_data_dir(), exc)
        return 1
    asyncio.run(_run(stack, kuma, overseerr, video))
    logger.info("simulators stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
