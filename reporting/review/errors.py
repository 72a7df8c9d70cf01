"""The review code's errors. Each is also one of the scanner's errors, so the gRPC layer maps them
in one place (``scanner.errors``) and the page and the CLI catch ``ReviewError``."""

from __future__ import annotations

from index.text import refused_character
from scanner.auth import PermissionDenied
from scanner.errors import HashwatchError, InvalidRequest, NotFound, Unavailable


class ReviewError(HashwatchError):
    """A review operation that cannot be done; the message is meant for the analyst."""


class CaseNotFound(ReviewError, NotFound, LookupError):
    pass


class InvalidReview(ReviewError, InvalidRequest, ValueError):
    pass


class AlreadyDecided(ReviewError, PermissionDenied):
    """The case was decided; only an admin may decide it again."""


class DecisionConflict(ReviewError, Unavailable):
    """Two decisions on one case at the same moment; the loser may reload and retry."""


class ExposureLimitReached(ReviewError):
    """The analyst has revealed as many images today as the limit allows."""


def check_text(field: str, value: str, *, multiline: bool = False) -> None:
    """Refuse what may not be stored in a note, a statement or a URL (``index.text``)."""
    refused = refused_character(value, multiline=multiline)
    if refused is not None:
        raise InvalidReview(f"the {field} contains {refused}", field)
