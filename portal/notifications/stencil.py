"""Stencils: a message template rendered once per language and shape, then filled in.

A case's confirmation is rendered on every claim, in four templates, for values that
differ only in a few places (the reference, the name, the link, the dates). Rendering
with Jinja costs far more than the database work of the claim, so the template is
rendered once with a marker in place of each of those values (its *slots*), and each
message then replaces the markers with the values, escaped as Jinja would have escaped
them. What the template decides on (``{% if tracking_number %}``, ``kind == "claim"``)
is part of the stencil's key: the other values whole, and of each slot whether it is
empty (an empty slot is passed to Jinja as it is, never as a marker).

A slot may only be printed, put through ``%`` formatting (``_("...%(ref)s", ref=...)``),
joined with ``~``, tested for being there (``{% if %}``, ``is none``) or passed to a
filter marked :func:`slot_aware`. A comparison or a filter that does not know slots
either fails or leaves a mangled marker; both are caught, and that template is then
rendered directly for that shape (with a warning in the log). An attribute of a slot is
undefined, which nothing here can see: ``tests/test_stencil.py`` compares both paths on
every message that uses slots, with the values customers type.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Hashable, Iterable
from functools import wraps

from markupsafe import escape

log = logging.getLogger("portal.notifications.stencil")

# Letters and digits only: escaping, whitespace folding and URL joining leave them alone.
_PREFIX = "zqSlot" + secrets.token_hex(4)
_MARKER = re.compile(_PREFIX + r"(\d+)q")
_LIMIT = 512  # stencils kept per process (templates x languages x shapes)


class Slot:
    """Stands for a value while a stencil is rendered; prints as its marker.

    Comparing it fails on purpose (``==`` would answer for the marker, not the value),
    which makes its template one that is rendered directly."""

    __slots__ = ("filters", "index", "name")

    def __init__(self, index: int, name: str, filters: tuple = ()):
        self.index, self.name, self.filters = index, name, filters

    def __str__(self) -> str:
        return f"{_PREFIX}{self.index}q"

    def __html__(self) -> str:
        return str(self)

    def __eq__(self, other):
        raise TypeError("a stencil slot cannot be compared")

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__


class _Recorder(threading.local):
    """The slots made while one stencil is rendered (filtered slots included), per
    thread: gunicorn's threads render their own stencils."""

    slots: list[Slot] | None = None

    def slot(self, name: str, filters: tuple = ()) -> Slot:
        if self.slots is None:
            raise RuntimeError("a stencil slot was used outside a stencil recording")
        slot = Slot(len(self.slots), name, filters)
        self.slots.append(slot)
        return slot


_recorder = _Recorder()


def slot_aware(filter_function: Callable) -> Callable:
    """Mark a Jinja filter as safe for slots: given a slot, it returns a new slot that
    applies the filter (with the same arguments) when the stencil is filled."""

    @wraps(filter_function)
    def wrapper(value, *args, **kwargs):
        if isinstance(value, Slot):
            step = (filter_function, args, tuple(kwargs.items()))
            return _recorder.slot(value.name, (*value.filters, step))
        return filter_function(value, *args, **kwargs)

    return wrapper


class Stencil:
    """A rendered template split at its markers: literal, slot, literal, ..., literal."""

    __slots__ = ("autoescape", "holes", "parts")

    def __init__(self, text: str, slots: list[Slot], autoescape: bool):
        pieces = _MARKER.split(text)
        self.parts = pieces[::2]
        self.holes = [slots[int(index)] for index in pieces[1::2]]
        self.autoescape = autoescape

    def fill(self, values: dict) -> str:
        """The message for ``values`` (the same as rendering the template with them)."""
        out = [self.parts[0]]
        for slot, literal in zip(self.holes, self.parts[1:], strict=True):
            value = values[slot.name]
            for function, args, kwargs in slot.filters:
                value = function(value, *args, **dict(kwargs))
            out.append(str(escape(value)) if self.autoescape else str(value))
            out.append(literal)
        return "".join(out)


_FAILED = object()
_stencils: dict[Hashable, object] = {}


def _key(template: str, values: dict, slots: frozenset[str], extra: Hashable) -> tuple | None:
    shape = []
    for name in sorted(values):
        value = values[name]
        if name in slots and value:
            shape.append((name, Slot))
            continue
        if callable(value):
            continue  # per-call helpers (the message's gettext) are not part of the shape
        try:
            hash(value)
        except TypeError:
            return None
        shape.append((name, value))
    return (template, extra, tuple(shape))


def fill(template: str, values: dict, slots: Iterable[str], render: Callable[[dict], str],
         autoescape: bool, extra: Hashable = None) -> str:
    """``render(values)``, through a stencil kept for this template, shape and ``extra``
    (the language). ``slots``: the names of the values the template only prints."""
    slots = frozenset(slots)
    key = _key(template, values, slots, extra)
    if key is None:
        return render(values)
    stencil = _stencils.get(key)
    if stencil is None:
        stencil = _record(template, values, slots, render, autoescape)
        if len(_stencils) >= _LIMIT:
            _stencils.clear()
        _stencils[key] = stencil
    if stencil is _FAILED:
        return render(values)
    return stencil.fill(values)


def _record(template: str, values: dict, slots: frozenset[str], render: Callable,
            autoescape: bool) -> object:
    _recorder.slots = []
    try:
        stand_ins = {name: (_recorder.slot(name) if name in slots and value else value)
                     for name, value in values.items()}
        text = render(stand_ins)
        made = _recorder.slots
    except Exception:
        log.warning("template %s cannot be a stencil (a slot was used as a value); "
                    "it is rendered directly", template, exc_info=True)
        return _FAILED
    finally:
        _recorder.slots = None
    stencil = Stencil(text, made, autoescape)
    mangled = _PREFIX[6:].lower()
    if any(mangled in piece.lower() for piece in stencil.parts):
        log.warning("template %s cannot be a stencil (a filter changed a slot); "
                    "it is rendered directly", template)
        return _FAILED
    return stencil
