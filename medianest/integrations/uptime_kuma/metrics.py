"""Kuma's ``/metrics`` (Prometheus text format, 1.23 and 2.x) into ``MonitorState``s.

Each sample line is read by ``prometheus_client.parser``. It is given one line at a time because
it stops at the first line it cannot read, and one odd line (a garbled series, a future format)
must cost only that line, not every monitor after it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .common import UNKNOWN, MonitorState, _fraction, _int_or_none, _ping_ms, _text_or_none, _url_or_none, status_name

logger = logging.getLogger(__name__)

_KNOWN_LABELS = frozenset({"monitor_id", "monitor_name", "monitor_type", "monitor_url", "monitor_hostname",
                           "monitor_port", "window"})


@dataclass(frozen=True)
class PromSample:
    """One sample line of the Prometheus text format."""

    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> tuple[list[PromSample], set[str]]:
    """Parse the Prometheus text format leniently.

    Args:
        text: The body of a ``/metrics`` answer.

    Returns:
        The samples that parsed, and every metric name seen in samples or ``# HELP``/``# TYPE``
        lines. Lines that do not parse are skipped.
    """
    samples: list[PromSample] = []
    names: set[str] = set()
    skipped = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                names.add(parts[2])
            continue
        try:
            parsed = [sample for family in text_string_to_metric_families(line + "\n") for sample in family.samples]
        except (ValueError, IndexError, KeyError, TypeError):
            skipped += 1
            continue
        for sample in parsed:
            samples.append(PromSample(sample.name, dict(sample.labels), float(sample.value)))
            names.add(sample.name)
    if skipped:
        logger.debug("skipped %d unparseable metrics line(s)", skipped)
    return samples, names


def build_monitor_states(samples: list[PromSample]) -> list[MonitorState]:
    """Fold Kuma's per-monitor gauges into ``MonitorState`` objects.

    Keyed by ``monitor_id`` when present (2.x), else by ``monitor_name`` (1.23). Labels that
    are not Kuma's own are tag labels (2.1+).
    """
    found: dict[str, dict[str, Any]] = {}
    for sample in samples:
        if not sample.name.startswith("monitor_") or "monitor_name" not in sample.labels:
            continue
        labels = sample.labels
        monitor_id = _int_or_none(labels.get("monitor_id"))
        key = str(monitor_id) if monitor_id is not None else labels["monitor_name"]
        entry = found.setdefault(key, {"labels": labels, "monitor_id": monitor_id, "uptime": {}})
        if sample.name == "monitor_status":
            entry["status"] = sample.value
        elif sample.name == "monitor_response_time":
            entry["response"] = sample.value
        elif sample.name == "monitor_uptime_ratio":
            entry["uptime"][labels.get("window")] = sample.value
    states = []
    for key, entry in found.items():
        labels = entry["labels"]
        states.append(MonitorState(
            key=key, monitor_id=entry["monitor_id"], name=labels["monitor_name"],
            type=labels.get("monitor_type") or UNKNOWN, url=_url_or_none(labels.get("monitor_url")),
            status=status_name(entry.get("status")), response_time_ms=_ping_ms(entry.get("response")),
            uptime_24h=_fraction(entry["uptime"].get("1d")), uptime_30d=_fraction(entry["uptime"].get("30d")),
            hostname=_text_or_none(labels.get("monitor_hostname")), port=_int_or_none(labels.get("monitor_port")),
            tags={k: v for k, v in labels.items() if k not in _KNOWN_LABELS},
        ))
    states.sort(key=lambda s: (s.monitor_id is None, s.monitor_id or 0, s.name))
    return states
