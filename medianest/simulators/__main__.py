"""Run the plex.tv and Plex Media Server simulators: ``python -m medianest.simulators``.

Both apps are served by uvicorn in one process and one event loop. SIGINT or SIGTERM
stops them cleanly (a second signal forces the stop).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from medianest.simulators.plex import SimulatorStack

logger = logging.getLogger("medianest.simulators")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the runner."""
    parser = argparse.ArgumentParser(prog="python -m medianest.simulators",
                                     description="Serve the plex.tv and Plex Media Server simulators.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--plex-tv-port", type=int, default=32410, help="plex.tv port (default 32410, 0 = any)")
    parser.add_argument("--pms-port", type=int, default=32400, help="PMS port (default 32400, 0 = any)")
    parser.add_argument("--auto-approve", metavar="USER", default=None,
                        help="approve every new pin as USER (demo mode)")
    parser.add_argument("--auto-approve-after", metavar="SECONDS", type=float, default=1.0,
                        help="delay before the auto-approval (default 1.0)")
    parser.add_argument("--pms-library-root", metavar="DIR", default=None,
                        help="folder holding 'Movies' and 'TV Shows' for library scans")
    parser.add_argument("--scan-delay", type=float, default=0.5, help="seconds a library refresh takes")
    parser.add_argument("--strict", action="store_true",
                        help="answer 406 on plex.tv JSON endpoints without Accept: application/json")
    parser.add_argument("--advertise-host", default=None,
                        help="host name to put in URLs handed to clients (default: --host)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


async def _run(stack: SimulatorStack) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stack.request_exit)
    serving = asyncio.ensure_future(stack.serve())
    while not stack.started and not serving.done():
        await asyncio.sleep(0.02)
    if stack.started:
        logger.info("plex.tv simulator on %s", stack.plex_tv_url)
        logger.info("PMS simulator on %s", stack.pms_url)
    await serving


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
    asyncio.run(_run(stack))
    logger.info("simulators stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
