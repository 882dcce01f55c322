"""Routing: which destination receives the results of an object sent by a given calling AE."""
from __future__ import annotations

from ecgbridge.config import DestinationConfig, Settings


def destination_for(settings: Settings, calling_ae: str) -> str | None:
    """Name of the destination for `calling_ae` (exact AE title, blanks stripped), else the
    default; None means results are only written to the local out folder."""
    name = settings.routing.by_calling_ae.get(calling_ae.strip())
    return name if name is not None else settings.routing.default


def destination_config(settings: Settings, name: str) -> DestinationConfig:
    """The configured destination called `name` (KeyError naming it and the known ones)."""
    try:
        return settings.destinations[name]
    except KeyError:
        raise KeyError(
            f"destination {name!r} is not configured; configured: {sorted(settings.destinations)}"
        ) from None
