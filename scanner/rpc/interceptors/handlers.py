"""Rebuilding a gRPC method handler around new behaviour: the step every interceptor shares.

gRPC's four handler kinds differ only in whether the response is one message or a stream, so an
interceptor supplies two wrappers and this module applies the right one, keeping the handler's
(de)serialisers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import grpc

Unary = Callable[[Any, grpc.ServicerContext], Any]
Streaming = Callable[[Any, grpc.ServicerContext], Iterator[Any]]
# A string: grpc.RpcMethodHandler is generic only in its type stubs.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def rewrap(
    handler: Handler, unary: Callable[[Unary], Unary], streaming: Callable[[Streaming], Streaming]
) -> Handler:
    """``handler`` with its behaviour passed through ``unary`` (one response message) or
    ``streaming`` (a stream of responses)."""
    kinds = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **kinds)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), **kinds)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), **kinds)
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **kinds)
    return handler
