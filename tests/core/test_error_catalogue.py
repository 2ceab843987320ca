"""Every error text lives in the catalogues (core/locales/en.toml and de.toml), and the code
raises keys and parameters only.

The raise sites are found by reading the source with ``ast`` (cheap and exact): every
``X.keyed("key", **params)`` anywhere in the service names a key both catalogues hold, with
the placeholders the raise gives; and no core code builds a ``CoreError`` from a text of its
own, except the few listed in ``NEVER_SHOWN`` with the reason no person reads them.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import get_args

import pytest

from contracts.errors import _TEXTS
from core.domain.catalogue import english, error_texts, placeholders
from core.domain.rentals import RentalState
from core.errors import CoreError, NotFound
from core.grammar.values import FreeTextWhat, IntWhat
from core.services.rental_rules import IN_STATE

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("core", "bot", "contracts", "rigshare_dev")

# Raise sites whose key is computed, by (file, enclosing function): the keys each can raise.
DYNAMIC: dict[tuple[str, str], set[str]] = {
    ("core/grammar/values.py", "_small_int"): {
        f"grammar.bad_int.{w.replace(' ', '_')}" for w in get_args(IntWhat)
    },
    ("core/grammar/values.py", "_free_text"): {
        f"grammar.text_too_long.{w}" for w in get_args(FreeTextWhat)
    },
    ("core/services/market_reasons.py", "_no_offer"): {
        "market.no_offer",
        "market.no_offer.price",
        "market.no_offer.region",
        "market.no_offer.price_region",
    },
    ("core/services/rental_rules.py", "in_state"): {"rentals.state"}
    | {f"rentals.state.{s}" for s in IN_STATE},
    ("core/domain/durations.py", "_fail"): set(),  # its callers are read as duration.<key>
}

# Core errors built from a text of their own: none reaches a person reading chat, so none
# needs a German text. (file, enclosing function) -> why.
NEVER_SHOWN: dict[tuple[str, str], str] = {
    ("core/services/agents.py", "authenticate"): "agent API: refused token, HTTP 401 to an agent",
    ("core/services/agents.py", "heartbeat_many"): "agent API: refused token",
    ("core/services/agents.py", "heartbeat"): "agent API: refused token",
    ("core/services/agents.py", "_late_beat"): "agent API: refused token",
    ("core/services/agent_commands.py", "record_results"): "agent API: a malformed result batch",
    ("core/services/machine_specs.py", "check_heartbeat"): "agent API: a malformed heartbeat",
    ("core/services/kv.py", "_check"): "internal settings store (Discord board ids), no user input",
    ("core/services/kv.py", "_check_key"): "internal settings store, no user input",
}

# Chain texts whose German fills other names (the escrow status in German; the panic code's
# meaning is an English decoding the German leaves out).
PLACEHOLDERS_DIFFER = {"chain.wrong_status", "chain.panic"}


def _core_error_names() -> set[str]:
    """Every CoreError class the core defines (``core.errors`` imports them all)."""
    found, todo = {"CoreError"}, [CoreError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub.__name__)
            todo.append(sub)
    return found


class _Site(ast.NodeVisitor):
    """Walks one module, remembering the enclosing function of each call."""

    def __init__(self, path: str, error_names: set[str]) -> None:
        self.path, self.error_names = path, error_names
        self.function = "<module>"
        self.keyed: list[tuple[str, str, ast.Call]] = []  # (key or "", function, call)
        self.unkeyed: list[tuple[str, int, str]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) else None
        if isinstance(func, ast.Attribute) and func.attr == "keyed":
            self.keyed.append((literal if isinstance(literal, str) else "", self.function, node))
        elif self.path == "core/domain/durations.py" and _name(func) == "_fail":
            self.keyed.append((f"duration.{literal}" if literal else "", self.function, node))
        elif _name(func) == "MoneyFormatError":
            self.keyed.append((literal if isinstance(literal, str) else "", self.function, node))
        elif self.path.startswith("core/") and _name(func) in self.error_names:
            if _is_text(first):
                self.unkeyed.append((self.function, node.lineno, ast.unparse(node)[:100]))
        self.generic_visit(node)


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else None


def _is_text(node: ast.expr | None) -> bool:
    """A text written at the raise: a string, an f-string, a concatenation or a .format()."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (node.func.attr == "format" and _is_text(node.func.value))
    )


def _sites() -> list[_Site]:
    names = _core_error_names()
    sites = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            site = _Site(rel, names)
            site.visit(ast.parse(path.read_text(encoding="utf-8"), rel))
            sites.append(site)
    return sites


SITES = _sites()


def _given(call: ast.Call) -> set[str] | None:
    """The parameter names a raise gives (None when it passes ``**kwargs`` or a dict it built)."""
    names = {kw.arg for kw in call.keywords if kw.arg is not None}
    if any(kw.arg is None for kw in call.keywords):
        return None
    if len(call.args) > 1:  # MoneyFormatError("key", {"text": text})
        params = call.args[1]
        if not isinstance(params, ast.Dict) or not all(
            isinstance(k, ast.Constant) for k in params.keys
        ):
            return None
        names |= {str(k.value) for k in params.keys if isinstance(k, ast.Constant)}
    return names


def test_the_scan_finds_the_raise_sites() -> None:
    """A scan that finds nothing would pass everything: it must see the known raises."""
    keys = {key for site in SITES for key, _, _ in site.keyed}
    assert {"grammar.sshkey_rsa_bits", "duration.too_long", "money.not_amount"} <= keys
    assert {"button.expired", "rentals.just_taken", "gpu.ambiguous"} <= keys
    assert len(keys) > 120


def test_every_raised_key_is_in_both_catalogues_with_its_placeholders() -> None:
    en, de = error_texts("en"), error_texts("de")
    problems = []
    for site in SITES:
        for key, function, call in site.keyed:
            if not key:
                keys = DYNAMIC.get((site.path, function))
                if keys is None:
                    problems.append(f"{site.path}:{call.lineno} computes its key: list it")
                    continue
            else:
                keys = {key}
            if len(call.args) > 1 and _name(call.func) != "MoneyFormatError":
                problems.append(f"{site.path}:{call.lineno} passes a text: move it to en.toml")
            given = _given(call)
            for k in keys:
                for lang, texts in (("en", en), ("de", de)):
                    if k not in texts:
                        problems.append(f"{site.path}:{call.lineno}: {lang}.toml lacks err.{k}")
                    elif given is not None and not placeholders(texts[k]) <= given:
                        missing = placeholders(texts[k]) - given
                        problems.append(
                            f"{site.path}:{call.lineno}: {lang} err.{k} needs {missing}"
                        )
    assert not problems, "\n".join(problems)


def test_no_core_error_is_raised_with_a_text_of_its_own() -> None:
    found = [
        f"{site.path}:{line} in {function}: {code}"
        for site in SITES
        for function, line, code in site.unkeyed
        if (site.path, function) not in NEVER_SHOWN
    ]
    assert not found, "raise these by key (CoreError.keyed):\n" + "\n".join(found)


def test_the_allow_list_names_only_sites_that_still_exist() -> None:
    unkeyed = {(site.path, function) for site in SITES for function, _, _ in site.unkeyed}
    assert set(NEVER_SHOWN) <= unkeyed, set(NEVER_SHOWN) - unkeyed


def test_both_catalogues_hold_the_same_keys_and_placeholders() -> None:
    en, de = error_texts("en"), error_texts("de")
    assert set(en) == set(de), set(en) ^ set(de)
    differ = {k for k in en if placeholders(en[k]) != placeholders(de[k])}
    assert differ == PLACEHOLDERS_DIFFER
    for text in (*en.values(), *de.values()):  # each parses as a format string
        list(string.Formatter().parse(text))


def test_every_catalogue_entry_is_raised_somewhere() -> None:
    raised = {key for site in SITES for key, _, _ in site.keyed if key}
    raised |= {key for keys in DYNAMIC.values() for key in keys}
    raised |= {f"chain.{key}" for key in _TEXTS}
    assert set(error_texts("en")) - raised == set()


def test_the_english_comes_from_the_catalogue() -> None:
    exc = NotFound.keyed("receipts.none", rental_id=12)
    assert exc.user_message == str(exc) == "There is no receipt for rental #12."
    assert (exc.key, exc.params) == ("receipts.none", {"rental_id": 12})
    assert english("no.such.key", {"n": 1}) == "no.such.key {'n': 1}"  # shows, never crashes


def test_every_rental_state_has_its_refusal() -> None:
    assert set(IN_STATE) == {s.value for s in RentalState}


def test_a_core_error_needs_a_key_or_a_text() -> None:
    with pytest.raises(TypeError):
        CoreError()
