"""Per-process copies of settings staff edit rarely and every claim reads (routing rules,
queues, escalation keywords, compensation policy versions).

A cached setting is a function of the database that returns plain values (never ORM
objects, which belong to one session). It is loaded on first use and kept on the app
(``app.extensions``), so each app and database has its own copy:

- for at most ``CONFIG_CACHE_SECONDS`` (default 5; 0 turns caching off), which bounds how
  long another process (another gunicorn worker) serves a setting changed elsewhere;
- and dropped at once in this process when a session writes a watched model (ORM flush or
  an ORM ``update()``/``delete()``), again when that transaction commits or rolls back, so
  a value read mid-transaction is never kept beyond it.

Usage::

    routing_config = cached("routing", (RoutingRule, Queue), load_routing_config)
    routing_config()  # the value, loaded or cached
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app
from sqlalchemy.orm import Session

T = TypeVar("T")
KEY = "config_cache"
_WATCHED: dict[str, tuple[type, ...]] = {}
_lock = threading.Lock()


def cached(name: str, models: tuple[type, ...], load: Callable[[], T]) -> Callable[[], T]:
    """Register a cached setting; returns the function that reads it.

    ``models``: writes to these models drop the cached value. ``load`` runs in the
    caller's app context and session."""
    _WATCHED[name] = tuple(models)

    def read() -> T:
        app = current_app._get_current_object()
        seconds = float(app.config.get("CONFIG_CACHE_SECONDS", 5))
        store = app.extensions.setdefault(KEY, {})
        entry = store.get(name)
        now = time.monotonic()
        if entry is not None and now - entry[0] < seconds:
            return entry[1]
        value = load()
        if seconds > 0:
            store[name] = (now, value)
        return value

    read.__doc__ = f"The cached setting {name!r} (see portal.config_cache)."
    return read


def clear(app: Flask | None = None, names: set[str] | None = None) -> None:
    """Drop cached settings (all, or ``names``) of ``app`` (default: the current app)."""
    app = app or current_app._get_current_object()
    store = app.extensions.get(KEY)
    if not store:
        return
    with _lock:
        for name in list(store):
            if names is None or name in names:
                store.pop(name, None)


def _touched(classes) -> set[str]:
    return {name for name, models in _WATCHED.items()
            if any(issubclass(cls, models) for cls in classes)}


def _drop(session: Session, names: set[str]) -> None:
    if not names:
        return
    session.info.setdefault(KEY, set()).update(names)
    with contextlib.suppress(RuntimeError):  # no app context: a script's bare session
        clear(names=names)


def _after_flush(session: Session, _context) -> None:
    classes = {type(obj) for obj in (*session.new, *session.dirty, *session.deleted)}
    _drop(session, _touched(classes))


def _on_orm_execute(state) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper:
        _drop(state.session, _touched({state.bind_mapper.class_}))


def _after_end(session: Session, *_args) -> None:
    names = session.info.pop(KEY, None)
    if names:
        with contextlib.suppress(RuntimeError):
            clear(names=names)


def install() -> None:
    """Register the session listeners."""
    from portal.db import listen_once

    for name, handler in (("after_flush", _after_flush), ("do_orm_execute", _on_orm_execute),
                          ("after_commit", _after_end), ("after_soft_rollback", _after_end)):
        listen_once(Session, name, handler)
