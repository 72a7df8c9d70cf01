"""Customer notification destinations: email, signed webhooks, PagerDuty.

Each kind is one module exposing a config dataclass and a client with
``deliver(event) -> DeliveryResult``; ``base.build_destination`` builds one from stored JSON.
"""

from reporting.destinations.base import (
    Destination,
    DestinationConfigError,
    build_destination,
    redact_config,
)

__all__ = ["Destination", "DestinationConfigError", "build_destination", "redact_config"]
