"""Who may call each RPC, as the proto declares it (``option (hashwatch.v1.scopes)``)."""

from __future__ import annotations

from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from scanner.api.hashwatch.v1 import access_pb2
from scanner.rpc.interceptors.auth import METHOD_SCOPES, declared_scopes

# The contract, written out: a change to who may call what is a change to this table too.
_READ_PARTNER = frozenset({"customers:read", "partner"})
_WRITE_PARTNER = frozenset({"customers:write", "partner"})
EXPECTED = {
    **{
        f"/hashwatch.v1.Scanner/{m}": frozenset({"scan"})
        for m in ("Scan", "ScanStream", "Hash", "Match", "Blocks")
    },
    "/hashwatch.v1.Review/ListMatches": frozenset({"review:read"}),
    "/hashwatch.v1.Review/GetMatch": frozenset({"review:read"}),
    "/hashwatch.v1.Review/Decide": frozenset({"review:write"}),
    "/hashwatch.v1.Review/RequestReview": frozenset({"review:write", "customer:appeal"}),
    "/hashwatch.v1.Audit/ListAuditLog": frozenset({"audit:read"}),
    "/hashwatch.v1.Customers/GetCustomer": _READ_PARTNER,
    "/hashwatch.v1.Customers/ListCustomers": _READ_PARTNER,
    **{
        f"/hashwatch.v1.Customers/{m}": _WRITE_PARTNER
        for m in (
            "CreateCustomer",
            "UpdateCustomer",
            "DeleteCustomer",
            "AddSite",
            "RemoveSite",
            "SetEmail",
            "VerifyEmail",
            "EnableCustomer",
            "DisableCustomer",
        )
    },
    "/hashwatch.v1.Analytics/GetDailyCounts": frozenset({"analytics:read", "partner"}),
    "/hashwatch.v1.Analytics/ExportDailyCounts": frozenset({"analytics:read", "partner"}),
}


def test_the_proto_declares_exactly_the_scopes_of_the_contract() -> None:
    assert dict(METHOD_SCOPES) == EXPECTED


def _probe(name: str, scopes: list[str]) -> ModuleType:
    """A generated-like module holding one service whose one method carries ``scopes``."""
    file = descriptor_pb2.FileDescriptorProto(
        name=f"tests/{name}.proto",
        package=f"hashwatch.{name}",
        dependency=["hashwatch/v1/access.proto", "hashwatch/v1/scanner.proto"],
        syntax="proto3",
    )
    method = file.service.add(name="Probe").method.add(
        name="Poke", input_type=".hashwatch.v1.HashRequest", output_type=".hashwatch.v1.HashResponse"
    )
    method.options.Extensions[access_pb2.scopes].extend(scopes)
    module = ModuleType(name)
    module.DESCRIPTOR = descriptor_pool.Default().AddSerializedFile(file.SerializeToString())  # type: ignore[attr-defined]
    return module


def test_a_method_naming_an_unknown_scope_stops_the_start() -> None:
    with pytest.raises(
        ValueError, match=r"/hashwatch.unknown_scope.Probe/Poke names unknown scope\(s\) \['scna'\]"
    ):
        declared_scopes([_probe("unknown_scope", ["scna"])])


def test_a_method_without_scopes_is_in_no_table_and_so_denied() -> None:
    assert declared_scopes([_probe("no_scope", [])]) == {}
    assert declared_scopes([_probe("one_scope", ["audit:read"])]) == {
        "/hashwatch.one_scope.Probe/Poke": frozenset({"audit:read"})
    }
