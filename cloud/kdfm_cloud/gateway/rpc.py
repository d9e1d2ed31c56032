"""What the gateway's servicers share: requests parsed from bytes, aborts, the caller's PEM.

Requests arrive as bytes and are parsed here, so that a malformed message is answered
INVALID_ARGUMENT (grpc's own deserializer would say INTERNAL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

Context = grpc.aio.ServicerContext[Any, Any]
_M = TypeVar("_M", bound=Message)


async def abort(context: Context, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the call with `code` and `message`."""
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # grpc raises; this satisfies the type


async def parse(message: type[_M], data: bytes, context: Context) -> _M:
    """The request `data` holds; aborts INVALID_ARGUMENT when it is not a valid `message`."""
    try:
        return message.FromString(data)
    except DecodeError as err:
        await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                    f"request is not a valid {message.DESCRIPTOR.full_name}: {err}")


def handler(service: str, methods: Mapping[str, tuple[Callable[..., Any], type[Message]]]
            ) -> grpc.GenericRpcHandler[Any, Any]:
    """A generic handler for a grpc.aio server: method name -> (call, response type).

    The calls take the request as bytes (see `parse`).
    """
    return grpc.method_handlers_generic_handler(service, {
        name: grpc.unary_unary_rpc_method_handler(
            func, request_deserializer=None, response_serializer=response.SerializeToString)
        for name, (func, response) in methods.items()
    })


async def client_pem(context: Context, needed_by: str) -> bytes:
    """The caller's client certificate (PEM); aborts UNAUTHENTICATED when it sent none.

    `needed_by` names what demands mutual TLS in the message ("the gateway").
    """
    certificates = list(context.auth_context().get("x509_pem_cert", ()))
    if not certificates:
        await abort(context, grpc.StatusCode.UNAUTHENTICATED,
                    f"no client certificate: {needed_by} needs mutual TLS")
    pem: bytes = certificates[0]
    return pem
