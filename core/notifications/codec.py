"""How a notification is stored in the outbox and read back: one frozen dataclass per kind,
registered under its ``KIND`` (the string the outbox row keeps), serialised field by field.

Reading is strict: a row whose kind is not registered, or whose payload lacks a field, has one
it does not know or a value of the wrong type, raises :class:`MalformedNotification` (the
sender dead-letters such a row instead of guessing at its keys). Field names are the payload
keys rows were always stored with, so rows written before these types existed still decode.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, TypeVar, Union

N = TypeVar("N", bound="Notification")


class Notification:
    """Base of every notification type: ``KIND`` is its stored kind string."""

    __slots__ = ()
    KIND: ClassVar[str]
    # fields left out of the payload while None (never stored before they had a value)
    OMIT_IF_NONE: ClassVar[frozenset[str]] = frozenset()
    # whether the row may be sent in a group chat (a payment seen); most are private
    PRIVATE: ClassVar[bool] = True


class MalformedNotification(ValueError):
    """A stored notification that does not decode into its type (or whose kind is unknown)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


KINDS: dict[str, type[Notification]] = {}


def registered(cls: type[N]) -> type[N]:
    """Class decorator: register a notification type under its ``KIND`` (once)."""
    kind = cls.KIND
    if kind in KINDS and KINDS[kind] is not cls:
        raise TypeError(f"notification kind {kind!r} registered twice")
    KINDS[kind] = cls
    return cls


def to_payload(n: Notification) -> dict[str, Any]:
    """The JSON-ready payload of ``n`` (nested dataclasses as objects, tuples as lists)."""
    out = {}
    for f in dataclasses.fields(n):  # type: ignore[arg-type]
        value = getattr(n, f.name)
        if value is None and f.name in n.OMIT_IF_NONE:
            continue
        out[f.name] = _encode(value)
    return out


def from_payload(kind: str, payload: object) -> Notification:
    """The notification a row stores. Raises MalformedNotification when it does not decode."""
    cls = KINDS.get(kind)
    if cls is None:
        raise MalformedNotification(kind, "no such notification kind")
    decoded: Notification = _decode_dataclass(kind, cls, payload, "payload")
    return decoded


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(x) for x in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode_dataclass(kind: str, cls: type, data: object, where: str) -> Any:
    if not isinstance(data, dict):
        raise MalformedNotification(kind, f"{where} is not an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise MalformedNotification(kind, f"{where} has unknown fields {sorted(unknown)}")
    hints = _hints(cls)
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _decode(kind, hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise MalformedNotification(kind, f"{where}.{name} is missing")
    return cls(**values)


def _decode(kind: str, tp: Any, value: object, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _decode(kind, arg, value, where)
            except MalformedNotification:
                continue
        raise MalformedNotification(kind, f"{where} has the wrong type")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise MalformedNotification(kind, f"{where} is not a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(kind, args[0], x, f"{where}[]") for x in value)
        if len(args) != len(value):
            raise MalformedNotification(kind, f"{where} has {len(value)} items, not {len(args)}")
        return tuple(_decode(kind, a, x, f"{where}[]") for a, x in zip(args, value, strict=True))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise MalformedNotification(kind, f"{where} is not an object")
        return dict(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(kind, tp, value, where)
    if tp is Any:
        return value
    # bool is an int in Python; a stored true is no amount
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise MalformedNotification(kind, f"{where} is not an integer")
    if tp in (str, bool) and not isinstance(value, tp):
        raise MalformedNotification(kind, f"{where} is not a {tp.__name__}")
    if tp not in (int, str, bool):
        raise TypeError(f"{where}: no decoder for {tp!r}")  # a notification type's own bug
    return value
