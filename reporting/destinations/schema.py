"""How a destination kind declares itself: the config it stores, and how it is built.

A kind's module writes its config as a frozen dataclass. The fields it stores are made with
``config_field`` (their help text, their choices); the annotation says the rest: ``str``,
``bool``, ``tuple[str, ...]`` or ``Secret`` (a string sealed at rest by ``reporting.sealed``
and redacted in listings). A field made without ``config_field`` (a timeout, say) is not stored:
the kind's ``build`` sets it from the settings. A dataclass default makes a field optional.
Validation stays in the dataclass (``__post_init__`` raising ``ValueError``), so a config built
in code is checked exactly like one read from the database.

From that one declaration come the reading of a stored config (types checked, unknown keys
refused, no character the database or a log line cannot hold), the fields sealed and redacted,
and the flags of ``hashwatch destinations add``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from index.text import refused_character
from reporting.destinations.secret import Secret
from reporting.events import DeliveryResult, Event

FieldType = Literal["string", "strings", "boolean"]
DEFAULT_HTTP_TIMEOUT_S = 10.0
_SCHEMA = "hashwatch.destination"
_REQUIRED = object()


class DestinationConfigError(ValueError):
    """A stored or given destination config that cannot be used; the message is for the operator."""


@runtime_checkable
class Destination(Protocol):
    kind: str

    def deliver(self, event: Event) -> DeliveryResult: ...


@dataclass(frozen=True)
class _Doc:
    help: str
    choices: tuple[str, ...]
    flag: bool


def config_field(
    help: str, *, default: Any = _REQUIRED, choices: Iterable[str] = (), flag: bool = True
) -> Any:
    """A stored field of a kind's config dataclass. ``choices`` are listed in the help (the
    dataclass checks them); ``flag=False`` keeps it off the command line."""
    metadata = {_SCHEMA: _Doc(help, tuple(choices), flag)}
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ConfigField:
    name: str
    type: FieldType
    help: str
    secret: bool = False
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    # Offered as --<name> by ``hashwatch destinations add``.
    flag: bool = True


_TYPES: dict[object, tuple[FieldType, bool]] = {
    str: ("string", False),
    Secret: ("string", True),
    bool: ("boolean", False),
    tuple[str, ...]: ("strings", False),
}


def fields_of(kind: str, config: type) -> tuple[ConfigField, ...]:
    """The stored fields of ``config``, a dataclass; ``TypeError`` for a type none can store."""
    hints = typing.get_type_hints(config)
    found = []
    for spec in dataclasses.fields(config):
        doc = spec.metadata.get(_SCHEMA)
        if not isinstance(doc, _Doc):
            continue
        if hints[spec.name] not in _TYPES:
            shown = getattr(hints[spec.name], "__name__", hints[spec.name])
            raise TypeError(
                f"{kind}: field {spec.name!r} is a {shown}; a stored field is a "
                "str, bool, tuple[str, ...] or Secret"
            )
        field_type, secret = _TYPES[hints[spec.name]]
        required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        default = None if spec.default is dataclasses.MISSING else spec.default
        found.append(
            ConfigField(spec.name, field_type, doc.help, secret, required, default, doc.choices, doc.flag)
        )
    return tuple(found)


@dataclass(frozen=True)
class DestinationKind:
    """One kind: its name, its config dataclass, and ``build(values, settings)``, which makes
    the destination from the values read from a stored config (keyword arguments for the
    dataclass, optional ones left out when not stored) and the reporting settings."""

    name: str
    config: type
    build: Callable[[dict[str, Any], object], Destination]
    # Can collect events and send one digest a period (``deliver_digest``).
    digest: bool = False
    fields: tuple[ConfigField, ...] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        # At import: a field no config can store stops the process before anything is stored.
        object.__setattr__(self, "fields", fields_of(self.name, self.config))

    def read(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The values of a stored config, or ``DestinationConfigError`` naming the first problem."""
        return read_config(self.name, self.fields, config)


def read_config(what: str, fields: Iterable[ConfigField], config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a config dataclass from stored JSON: ``fields`` checked in order,
    then unknown keys; an optional field not stored is left out (the dataclass's default)."""
    if not isinstance(config, Mapping):
        raise DestinationConfigError(f"{what}: the config must be a JSON object")
    fields = tuple(fields)
    values: dict[str, Any] = {}
    for spec in fields:
        if spec.name in config:
            values[spec.name] = _value(what, spec, config[spec.name])
        elif spec.required:
            raise DestinationConfigError(f"{what}: {spec.name!r} is required")
    unknown = sorted(set(config) - {spec.name for spec in fields})
    if unknown:
        raise DestinationConfigError(f"{what}: unknown key(s) {', '.join(map(repr, unknown))}")
    return values


def _value(what: str, spec: ConfigField, value: Any) -> Any:
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise DestinationConfigError(f"{what}: {spec.name!r} must be true or false")
        return value
    if spec.type == "strings":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise DestinationConfigError(f"{what}: {spec.name!r} must be a list of strings")
        return tuple(_storable(what, spec, v) for v in items)
    if not isinstance(value, str):
        raise DestinationConfigError(f"{what}: {spec.name!r} must be a string")
    text = _storable(what, spec, value)
    return Secret(text) if spec.secret else text


def _storable(what: str, spec: ConfigField, value: str) -> str:
    refused = refused_character(value)
    if refused is not None:
        # Not the value: it may be a secret.
        raise DestinationConfigError(f"{what}: {spec.name!r} contains {refused}")
    return value


def check_kinds(kinds: Iterable[DestinationKind]) -> tuple[DestinationKind, ...]:
    """``kinds``, refused at start-up (``ValueError``) if two share a name, or a field name means
    different things in two kinds: the command line has one flag per name, and a name is sealed
    in every kind or in none."""
    checked: dict[str, DestinationKind] = {}
    seen: dict[str, tuple[str, ConfigField]] = {}
    for kind in kinds:
        if kind.name in checked:
            raise ValueError(f"destination kind {kind.name!r} is registered twice")
        checked[kind.name] = kind
        for spec in kind.fields:
            if spec.name not in seen:
                seen[spec.name] = (kind.name, spec)
                continue
            first, earlier = seen[spec.name]
            if spec.secret or earlier.secret:
                raise ValueError(
                    f"{kind.name}: field {spec.name!r} is also {first}'s and one of them is a "
                    "secret; a secret's name belongs to one kind (its flag reads one environment "
                    "variable): give it another name"
                )
            if (spec.type, spec.default, spec.choices) != (earlier.type, earlier.default, earlier.choices):
                raise ValueError(
                    f"{kind.name}: field {spec.name!r} differs from {first}'s in its type, default "
                    "or choices; give it another name"
                )
    return tuple(checked.values())


def http_timeout(settings: object) -> float:
    """The HTTP kinds' timeout: the settings' ``http_timeout_seconds``."""
    return float(getattr(settings, "http_timeout_seconds", DEFAULT_HTTP_TIMEOUT_S))
