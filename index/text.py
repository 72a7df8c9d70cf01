"""Which characters hashwatch refuses in the strings it stores and passes on to partners.

A string a caller gives us may end up in a PostgreSQL column, a customer's email, a webhook
body and an NCMEC report (XML). PostgreSQL cannot hold a NUL, and XML 1.0 cannot carry any C0
control character but TAB, LF and CR, nor a lone surrogate, U+FFFE or U+FFFF: a report holding
one can never be parsed, so never filed. Neither may reach storage. C1 controls (U+0080-U+009F)
and DEL are refused too: XML allows them, but no URL, id or note has a use for them, and they
are how terminals and mail programs get confused.

Two rules, chosen per field:

* ``single_line`` (URLs, ids, names, config values): every control character, TAB, LF and CR
  included. A URL never carries one unencoded, and a line break in an id forges log lines.
* ``multiline`` (free text a person writes, such as a review note): TAB, LF and CR are allowed,
  since a browser's text area sends its line breaks as CR LF.

This module is the one place these rules live; it imports nothing of ours so that ``index`` (list
files), ``scanner`` (the gRPC edge) and ``reporting`` can all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# The complement of XML 1.0's ``Char`` production: what no XML 1.0 document can contain, raw or
# as a character reference.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class RefusedCharacter:
    """The first character of a string that is refused, and where it is (0-based)."""

    character: str
    position: int

    @property
    def code_point(self) -> str:
        return f"U+{ord(self.character):04X}"

    @property
    def kind(self) -> str:
        code = ord(self.character)
        if code < 0x20 or code == 0x7F:
            return "a control character"
        if code <= 0x9F:
            return "a C1 control character"
        if 0xD800 <= code <= 0xDFFF:
            return "a lone surrogate"
        return "a non-character"

    def __str__(self) -> str:
        return f"{self.kind} ({self.code_point}) at character {self.position + 1}"


def refused_characters(value: str, *, multiline: bool = False) -> Iterator[RefusedCharacter]:
    """Every character of ``value`` hashwatch does not store, in order."""
    for found in (_MULTILINE if multiline else _SINGLE_LINE).finditer(value):
        yield RefusedCharacter(found.group(), found.start())


def refused_character(value: str, *, multiline: bool = False) -> RefusedCharacter | None:
    """The first character of ``value`` hashwatch does not store, or None when there is none."""
    return next(refused_characters(value, multiline=multiline), None)


def not_xml_character(value: str) -> RefusedCharacter | None:
    """The first character of ``value`` XML 1.0 cannot carry, or None."""
    found = NOT_XML.search(value)
    return None if found is None else RefusedCharacter(found.group(), found.start())
