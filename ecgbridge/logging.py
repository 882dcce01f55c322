"""Logging: structlog, configured once by the CLI. JSON unless stderr is a terminal.

Loggers bind job_id, sop_instance_uid and calling_ae. Patient name/ID/birth date never reach
the output unless `logging.phi` is on: a processor drops those keys from every event, and the
standard-library loggers of pynetdicom (which can print dataset elements) are kept at WARNING.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from ecgbridge.config import LoggingConfig

#: Event keys that carry protected health information.
PHI_KEYS = frozenset({
    "patient_name", "patient_id", "patient_birth_date", "PatientName", "PatientID",
    "PatientBirthDate", "other_patient_ids", "OtherPatientIDs",
})


def drop_phi(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor removing PHI keys from an event dict."""
    for key in PHI_KEYS.intersection(event):
        del event[key]
    return event


def build_processors(config: LoggingConfig) -> list[Any]:
    """The shared processor chain (without the final renderer)."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if not config.phi:
        processors.append(drop_phi)
    return processors


def configure_logging(config: LoggingConfig, stream: Any = None) -> None:
    """Configure structlog and the standard library's root logger (call once, in the CLI)."""
    stream = sys.stderr if stream is None else stream
    use_json = config.format == "json" or (config.format == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    shared = build_processors(config)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    # pynetdicom logs PDUs and, at DEBUG, dataset contents: keep it quiet unless PHI is allowed.
    logging.getLogger("pynetdicom").setLevel(
        config.level if config.phi else max(logging.WARNING, logging.getLevelName(config.level))
    )


def get_logger(name: str, **bound: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger named `name` with `bound` key/values."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger.bind(**bound) if bound else logger
