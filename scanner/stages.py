"""Named stages of a scan (hash, match, record) that tracing can see.

Off unless tracing is configured (``scanner.rpc.interceptors.tracing`` sets the hook): ``stage`` is
then one shared no-op context manager, and nothing of OpenTelemetry is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Hook = Callable[[str], AbstractContextManager[object]]

_NOOP: AbstractContextManager[object] = nullcontext()
_hook: Hook | None = None


def set_hook(hook: Hook | None) -> None:
    global _hook
    _hook = hook


def stage(name: str) -> AbstractContextManager[object]:
    hook = _hook
    return _NOOP if hook is None else hook(name)
