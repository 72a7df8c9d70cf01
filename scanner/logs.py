"""Structured logs: JSON lines on stderr for machines, readable lines on a terminal.

Tracebacks never show local variables, in any renderer: the frames of a failed token check
hold the bearer secret, a failed login the password and TOTP code, a failed scan the content
(structlog's dict tracebacks and its rich console formatter both show locals by default). The
standard library's loggers (uvicorn, gRPC, alembic) go through the same processors, so their
lines are JSON too and their tracebacks are rendered the same locals-free way.
"""

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
    exceptions: structlog.typing.Processor
    renderer: structlog.typing.Processor
    if json:
        exceptions = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        exceptions = structlog.processors.format_exc_info
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exceptions,
    ]
    out = structlog.WriteLogger(sys.stderr)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (print() writes the newline apart, so another thread's line could
        # land in between), under the lock _LibraryLines takes too.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = _LibraryLines(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    # The libraries' own chatter (alembic's INFO lines on every start) stays out below warning.
    root.setLevel(max(numeric, logging.WARNING))


class _LibraryLines(logging.Handler):
    """The standard library's records, rendered by structlog's processors and written by a
    structlog logger on the same stream, under the same lock: a line of one never lands inside
    a line of the other."""

    def __init__(self, out: structlog.WriteLogger) -> None:
        super().__init__()
        self._out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._out.msg(self.format(record))
        except Exception:
            self.handleError(record)
