"""Structured logs: JSON lines on stderr for machines, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

_configured = False


def configured() -> bool:
    """Whether ``configure`` ran: the process is the hashwatch service (or worker), not a
    program embedding it, whose stdout structlog's defaults would write to."""
    return _configured


def configure(level: str = "info", json: bool = True) -> None:
    global _configured
    _configured = True
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks if json else structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
