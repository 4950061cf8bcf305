"""Listing queries of the PMS simulator: ``type=``, filters, ``sort=`` and the ``Meta`` block
python-plexapi validates them against."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from medianest.simulators.plex.common import TYPE_BY_NUMBER, TYPE_NUMBERS, SimError
from medianest.simulators.plex.models import Section
from medianest.simulators.plex.pms_render import Node, collection_node, item_attrs
from medianest.simulators.plex.state import PlexSim

# Every part logs under the package's name, as the single module did.
logger = logging.getLogger("medianest.simulators.plex")


_RESERVED_PARAMS = {
    "type", "sort", "includeGuids", "includeCollections", "includeExternalMedia", "includeMeta",
    "includeAdvanced", "checkFiles", "includeChildren", "includeDetails", "limit", "asyncCheckFiles",
    "includeElements", "excludeElements", "includeExtras", "includeRelated", "includeReviews",
    "includeOnDeck", "includeChapters", "includePopularLeaves", "includeConcerts", "includePreferences",
    "includeBandwidths", "includeAccount", "includeFields", "excludeFields", "contentDirectoryID",
}


def meta_node(section: Section, collections: bool) -> Node:
    """The ``Meta`` block (``includeMeta=1``) python-plexapi needs to validate sorts and filters."""
    if collections:
        libtypes = ["collection"]
    else:
        libtypes = ["movie"] if section.type == "movie" else ["show", "season", "episode"]
    types = []
    for libtype in libtypes:
        number = TYPE_NUMBERS[libtype]
        base = f"/library/sections/{section.key}"
        sorts = [Node("Sort", {"default": "asc" if key == "titleSort" else None, "defaultDirection": direction,
                               "descKey": f"{key}:desc", "key": key, "title": title})
                 for key, title, direction in (("titleSort", "Title", "asc"), ("addedAt", "Date Added", "desc"),
                                               ("updatedAt", "Date Updated", "desc"), ("year", "Year", "desc"))]
        fields = [Node("Field", {"key": f"{libtype}.{key}" if libtype != libtypes[0] else key,
                                 "title": title, "type": kind})
                  for key, title, kind in (("title", "Title", "string"), ("year", "Year", "integer"),
                                           ("addedAt", "Date Added", "date"),
                                           ("updatedAt", "Date Updated", "date"))]
        filters = [Node("Filter", {"filter": "year", "filterType": "integer",
                                   "key": f"{base}/year?type={number}", "title": "Year", "type": "filter"})]
        types.append(Node("Type", {"key": f"{base}/all?type={number}", "type": libtype,
                                   "title": libtype.title(), "active": libtype == libtypes[0]},
                          filters + sorts + fields))
    operators = {
        "string": (("=", "contains"), ("!=", "does not contain")),
        "integer": (("=", "is"), ("!=", "is not"), (">>=", "is greater than"), ("<<=", "is less than")),
        "date": ((">>=", "is after"), ("<<=", "is before")),
    }
    field_types = [Node("FieldType", {"type": kind}, [Node("Operator", {"key": k, "title": t}) for k, t in ops])
                   for kind, ops in operators.items()]
    return Node("Meta", {}, types + field_types, json_object=True)


def apply_filters(sim: PlexSim, request: Request, entries: list[tuple[dict[str, Any], Any]]
                  ) -> list[tuple[dict[str, Any], Any]]:
    """Keep the entries matching the request's filters (``year>>=2000``, ``title=…``, ``guid=…``)."""
    for raw_key, value in parse_qsl(request.url.query, keep_blank_values=True):
        if raw_key in _RESERVED_PARAMS or raw_key.startswith("X-Plex-"):
            continue
        op = "="
        field_name = raw_key
        for suffix in (">>", "<<", "!"):
            if raw_key.endswith(suffix):
                op, field_name = suffix, raw_key[: -len(suffix)]
                break
        field_name = field_name.split(".")[-1]  # "movie.title" -> "title"
        if field_name == "collection" and op in ("=", "!"):  # a Collection tag's filter, "collection=<id>"
            wanted = {int(v) for v in value.split(",") if v.strip().isdigit()}
            entries = [e for e in entries if _in_collections(sim, e[1], wanted) == (op == "=")]
            continue
        if field_name not in {"title", "year", "addedAt", "updatedAt", "guid", "studio", "contentRating"}:
            logger.debug("ignoring unsupported filter %s", raw_key)
            continue
        value = _absolute_date(value, sim.now()) if field_name in ("addedAt", "updatedAt") else value
        entries = [e for e in entries if _filter_match(e[0], e[1], field_name, op, value)]
    return entries


def apply_sort(request: Request, entries: list[tuple[dict[str, Any], Any]]
               ) -> list[tuple[dict[str, Any], Any]]:
    """Sort the entries as ``sort=field[:desc],…`` asks (default by ``titleSort``)."""
    spec = request.query_params.get("sort") or "titleSort"
    for part in reversed([p for p in spec.split(",") if p]):
        field_name, _, direction = part.partition(":")
        field_name = field_name.split(".")[-1]  # python-plexapi sends "movie.addedAt"
        descending = direction.lower() == "desc"

        def value(entry: tuple[dict[str, Any], Any], name: str = field_name) -> Any:
            attrs = entry[0]
            if name == "titleSort":
                return (attrs.get("titleSort") or attrs.get("title") or "").lower()
            found = attrs.get(name)
            return found.lower() if isinstance(found, str) else found

        present = [e for e in entries if value(e) is not None]
        missing = [e for e in entries if value(e) is None]
        present.sort(key=value, reverse=descending)
        entries = present + missing
    return entries


def section_entries(sim: PlexSim, section: Section, type_number: int | None) -> list[tuple[dict[str, Any], Any]]:
    """A section's items of one type (default: the section's), or its collections, with their attributes."""
    wanted = TYPE_BY_NUMBER.get(type_number) if type_number is not None else section.type
    if wanted is None:
        raise SimError(400, f"unsupported type {type_number}")
    if wanted == "collection":
        return [(collection_node(sim, c).attrs, c) for c in sim.collections.values() if c.section_key == section.key]
    return [(item_attrs(sim, i), i) for i in sim.items.values() if i.section_key == section.key and i.type == wanted]


def type_param(request: Request) -> int | None:
    """The ``type=`` number of a listing, if given."""
    raw = request.query_params.get("type")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise SimError(400, "type must be a number") from None


_RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mon": 30 * 86400, "y": 365 * 86400}


def _absolute_date(value: str, now: float) -> str:
    """Turn Plex's relative dates ("-30d", used by python-plexapi) into epoch seconds."""
    match = re.fullmatch(r"-?(\d+)(mon|[smhdwy])", value.strip())
    if not match:
        return value
    return str(int(now) - int(match.group(1)) * _RELATIVE_UNITS[match.group(2)])


def parse_keys(raw: str) -> list[int]:
    """The ratingKeys of ``/library/metadata/1,2,3``."""
    try:
        return [int(k) for k in raw.split(",") if k]
    except ValueError:
        raise SimError(400, "ratingKeys must be numbers") from None


def _in_collections(sim: PlexSim, obj: Any, keys: set[int]) -> bool:
    rating_key = getattr(obj, "rating_key", None)
    return any(rating_key in sim.collections[k].members for k in keys if k in sim.collections)


def _filter_match(attrs: dict[str, Any], obj: Any, field_name: str, op: str, value: str) -> bool:
    if field_name == "guid" and op in ("=", "!"):
        ids = {attrs.get("guid")} | set(getattr(obj, "guids", []))
        return (value in ids) == (op == "=")
    actual = attrs.get(field_name)
    if field_name == "title" and op in ("=", "!"):
        hit = value.lower() in str(actual or "").lower()
        return hit == (op == "=")
    if actual is None:
        return False
    if isinstance(actual, int):
        try:
            wanted: Any = int(value)
        except ValueError:
            raise SimError(400, f"{field_name} needs a number") from None
    else:
        actual, wanted = str(actual).lower(), value.lower()
    if op == ">>":
        return actual > wanted
    if op == "<<":
        return actual < wanted
    return (actual == wanted) == (op == "=")
