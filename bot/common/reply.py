"""What the dispatcher answers: a text, its buttons and files, and how to deliver them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str  # "confirm:12", "cancel:12", "cheaper:12", "extend:12", "text:/rent ..."


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    private: bool = False  # holds a credential, key, token or wallet detail
    # (file name, content): text files as str; images (*.png) as bytes, shown as pictures
    files: tuple[tuple[str, str | bytes], ...] = ()
    core_call: str = ""  # the service method that answered (parity tests, metrics)
    error: bool = False
    meta: dict = field(default_factory=dict)
