"""A destination kind declares its stored config once (schema.py); the registry, the sealing,
the listings and the command line follow from that declaration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from reporting.destinations import registry
from reporting.destinations.email import KIND as EMAIL
from reporting.destinations.pagerduty import KIND as PAGERDUTY
from reporting.destinations.schema import (
    ConfigField,
    Destination,
    DestinationConfigError,
    DestinationKind,
    check_kinds,
    config_field,
)
from reporting.destinations.secret import Secret
from reporting.destinations.webhook import KIND as WEBHOOK
from reporting.events import DeliveryResult, Event


@dataclass(frozen=True)
class EchoConfig:
    url: str = config_field("where to echo.")
    token: Secret = config_field("the echo token.")
    labels: tuple[str, ...] = config_field("labels.", default=())
    loud: bool = config_field("shout.", default=False)
    tone: str = config_field("the tone:", default="calm", choices=("calm", "sharp"))
    timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if self.tone not in ("calm", "sharp"):
            raise ValueError("tone must be calm or sharp")


@dataclass
class EchoDestination:
    config: EchoConfig
    kind: str = field(default="echo", init=False)

    def deliver(self, event: Event) -> DeliveryResult:
        return DeliveryResult.success("echoed")


def _echo(values: dict[str, Any], settings: object) -> Destination:
    return EchoDestination(EchoConfig(**values))


ECHO = DestinationKind("echo", EchoConfig, _echo)


def test_the_fields_come_from_the_config_dataclass() -> None:
    assert ECHO.fields == (
        ConfigField("url", "string", "where to echo.", required=True),
        ConfigField("token", "string", "the echo token.", secret=True, required=True),
        ConfigField("labels", "strings", "labels.", default=()),
        ConfigField("loud", "boolean", "shout.", default=False),
        ConfigField("tone", "string", "the tone:", default="calm", choices=("calm", "sharp")),
    )


def test_a_stored_config_is_read_by_its_declaration() -> None:
    values = ECHO.read({"url": "https://e.example/", "token": "t0ken", "labels": "one"})
    assert values == {"url": "https://e.example/", "token": Secret("t0ken"), "labels": ("one",)}
    built = ECHO.build(values, object())
    assert isinstance(built, EchoDestination)
    assert built.config.loud is False and built.config.tone == "calm"
    assert "t0ken" not in repr(built)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"token": "t"}, "echo: 'url' is required"),
        ({"url": "u", "token": 7}, "echo: 'token' must be a string"),
        ({"url": "u", "token": "t", "loud": "yes"}, "echo: 'loud' must be true or false"),
        ({"url": "u", "token": "t", "labels": [1]}, "echo: 'labels' must be a list of strings"),
        ({"url": "u", "token": "t\x00"}, "echo: 'token' contains"),
        ({"url": "u", "token": "t", "lowd": True}, "echo: unknown key"),
        ([], "echo: the config must be a JSON object"),
    ],
)
def test_a_config_that_does_not_fit_is_refused_clearly(config: Any, message: str) -> None:
    with pytest.raises(DestinationConfigError, match=message):
        ECHO.read(config)


def test_a_field_no_config_can_store_is_refused_at_declaration() -> None:
    @dataclass(frozen=True)
    class Counted:
        count: int = config_field("how many.")

    with pytest.raises(TypeError, match="'count' is a int; a stored field is a str"):
        DestinationKind("counted", Counted, _echo)


def test_the_registry_refuses_a_kind_twice_and_a_name_meaning_two_things() -> None:
    with pytest.raises(ValueError, match="'webhook' is registered twice"):
        check_kinds([WEBHOOK, EMAIL, WEBHOOK])

    @dataclass(frozen=True)
    class Shared:
        url: tuple[str, ...] = config_field("many URLs.")

    with pytest.raises(ValueError, match="'url' differs from webhook's"):
        check_kinds([WEBHOOK, DestinationKind("shared", Shared, _echo)])

    @dataclass(frozen=True)
    class Keyed:
        secret: Secret = config_field("another secret.")

    with pytest.raises(ValueError, match="a secret's name belongs to one kind"):
        check_kinds([WEBHOOK, DestinationKind("keyed", Keyed, _echo)])
    assert check_kinds([EMAIL, ECHO]) == (EMAIL, ECHO)


def test_what_is_sealed_and_redacted_is_what_the_kinds_declare_secret() -> None:
    assert {EMAIL, WEBHOOK, PAGERDUTY} <= set(registry.KINDS)
    declared = {spec.name for kind in registry.KINDS for spec in kind.fields if spec.secret}
    assert declared == registry.SECRET_FIELDS and {"secret", "routing_key"} <= declared
    shown = registry.redact_config(
        {"url": "https://h.example/", "secret": "s" * 12 + "WXYZ", "to": ["a@b.c"]}
    )
    assert shown == {"url": "https://h.example/", "secret": "****WXYZ", "to": ["a@b.c"]}
