"""Customer notification destinations: email, signed webhooks, PagerDuty.

Each kind is one module declaring its config dataclass (``schema``) and a client with
``deliver(event) -> DeliveryResult``; ``registry`` lists the kinds and builds one from stored JSON.
"""

from reporting.destinations.registry import build_destination, redact_config
from reporting.destinations.schema import Destination, DestinationConfigError

__all__ = ["Destination", "DestinationConfigError", "build_destination", "redact_config"]
