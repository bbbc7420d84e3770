"""The wire format of a stream entry: a typed protobuf payload plus W3C trace context and an idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

TYPE = b"type"  # full protobuf message name, e.g. ax0n.v1.Receipt
DATA = b"data"  # serialized protobuf
KEY = b"key"  # idempotency key (the request id for request-scoped messages)
TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"

M = TypeVar("M", bound=Message)


class MalformedEntry(Exception):
    """An entry that can never be handled (not protobuf, wrong type, missing fields): dead-lettered at once."""


@dataclass(frozen=True, slots=True)
class Entry(Generic[M]):
    """One delivered entry, decoded."""

    stream: str
    id: str
    key: str
    message: M
    carrier: dict[str, str]  # trace context (traceparent, tracestate)
    deliveries: int = 1


def encode(message: Message, key: str, carrier: dict[str, str]) -> dict[bytes, bytes]:
    flat = encode_flat(message, key, carrier)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def encode_flat(message: Message, key: str, carrier: dict[str, str]) -> list[bytes]:
    """encode() as the flat name, value, ... list XADD takes."""
    fields = [TYPE, message.DESCRIPTOR.full_name.encode(), DATA, message.SerializeToString(), KEY, key.encode()]
    for name in ("traceparent", "tracestate"):
        if name in carrier:
            fields += [name.encode(), carrier[name].encode()]
    return fields


def decode(
    stream: str, entry_id: str, fields: dict[bytes, bytes], message_type: type[M], deliveries: int = 1
) -> Entry[M]:
    """Decode raw entry fields; raise MalformedEntry with a reason an operator can act on."""
    missing = [f.decode() for f in (TYPE, DATA, KEY) if f not in fields]
    if missing:
        raise MalformedEntry(f"missing fields: {', '.join(missing)}")
    expected = message_type.DESCRIPTOR.full_name
    got = fields[TYPE].decode("utf-8", "replace")
    if got != expected:
        raise MalformedEntry(f"wrong message type {got!r}, expected {expected!r}")
    key = fields[KEY].decode("utf-8", "replace")
    if not key:
        raise MalformedEntry("empty idempotency key")
    message = message_type()
    try:
        message.ParseFromString(fields[DATA])
    except DecodeError as exc:
        raise MalformedEntry(f"payload is not a valid {expected}: {exc}") from exc
    carrier = {
        name.decode(): fields[name].decode("ascii", "replace") for name in (TRACEPARENT, TRACESTATE) if name in fields
    }
    return Entry(stream, entry_id, key, message, carrier, deliveries)
