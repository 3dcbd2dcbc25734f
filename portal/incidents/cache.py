"""Rendered public pages kept in a cache shared by every worker, invalidated on publish.

- Backend: Redis when ``REDIS_URL`` is set (``PUBLIC_PAGE_CACHE_REDIS_URL`` overrides it),
  else a dictionary in this process. ``PUBLIC_PAGE_CACHE=off`` disables it.
- A *generation* number is part of every key. Publishing anything public bumps it, after
  the transaction commits (``invalidate_after_commit``), so every process stops serving the
  old pages at once. A render that read the database before the bump is stored under the
  old generation and never served.
- Each process keeps an in-memory copy keyed by generation and follows the generation
  number through Redis pub/sub (a listener thread per process), so a cache hit costs no
  Redis round trip and no database query. While the listener is not subscribed (start-up,
  lost connection) each request reads the generation from Redis instead: correctness
  never depends on the pub/sub message arriving. Without Redis, entries expire after
  ``PUBLIC_PAGE_CACHE_LOCAL_TTL`` seconds, bounding staleness across separate processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

EXTENSION_KEY = "portal_page_cache"
FLAG = "incidents_public_changed"
LOCAL_MAX_ENTRIES = 2048


@dataclass(frozen=True)
class Page:
    """A rendered page: body, strong ETag and content type."""

    body: bytes
    etag: str
    content_type: str

    @classmethod
    def build(cls, body: bytes, content_type: str) -> Page:
        """Wrap rendered bytes, computing the ETag from them."""
        return cls(body, hashlib.blake2b(body, digest_size=12).hexdigest(), content_type)

    def dumps(self) -> bytes:
        """Serialise for Redis."""
        return self.etag.encode() + b"\n" + self.content_type.encode() + b"\n" + self.body

    @classmethod
    def loads(cls, raw: bytes) -> Page:
        """Read back what ``dumps`` wrote."""
        etag, content_type, body = raw.split(b"\n", 2)
        return cls(body, etag.decode(), content_type.decode())


class PageCache:
    """Generation-keyed page cache (Redis shared, or in-process)."""

    def __init__(self, redis_url: str = "", ttl: int = 300, local_ttl: float = 5.0,
                 enabled: bool = True, prefix: str = "portal:pages"):
        """Connect to Redis when ``redis_url`` is given."""
        self.enabled = enabled
        self.ttl = ttl
        self.local_ttl = local_ttl
        self.prefix = prefix
        self.redis_url = redis_url
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5,
                                               socket_connect_timeout=0.5)
        self._lock = threading.Lock()
        self._local: OrderedDict[tuple[int, str], tuple[float, Page]] = OrderedDict()
        self._generation = 0
        # Redis mode: a listener thread per process follows the generation through
        # pub/sub, so a cache hit needs no Redis round trip. Until it is subscribed (or
        # after it lost the connection) every request reads the generation from Redis.
        self._listener_pid: int | None = None
        self._following = False

    @property
    def shared(self) -> bool:
        """True when pages are shared through Redis."""
        return self._redis is not None

    @property
    def channel(self) -> str:
        """The pub/sub channel announcing new generations."""
        return f"{self.prefix}:bumped"

    def generation(self) -> int:
        """The current generation (-1 when Redis cannot be reached: pages then bypass)."""
        if self._redis is None:
            return self._generation
        self._ensure_listener()
        if self._following:
            return self._generation
        try:
            value = int(self._redis.get(f"{self.prefix}:generation") or 0)
        except Exception:  # a cache outage must never take pages down
            return -1
        self._advance(value)
        return value

    def _advance(self, value: int) -> None:
        with self._lock:
            if value > self._generation:
                self._generation = value
                self._local.clear()

    def _ensure_listener(self) -> None:
        pid = os.getpid()
        if self._listener_pid == pid:
            return
        with self._lock:
            if self._listener_pid == pid:
                return
            self._listener_pid = pid  # a forked worker starts its own listener
            self._following = False
            thread = threading.Thread(target=self._listen, name="page-cache-listener",
                                      daemon=True)
            thread.start()

    def _listen(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2,
                                      health_check_interval=15)
        while True:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                # Subscribed first, then read: no bump can fall between the two.
                self._advance(int(client.get(f"{self.prefix}:generation") or 0))
                self._following = True
                while True:
                    message = pubsub.get_message(timeout=5.0)
                    if message and message.get("type") == "message":
                        self._advance(int(message["data"]))
            except Exception:  # reconnect; requests read the generation from Redis meanwhile
                self._following = False
                time.sleep(0.5)
            finally:
                self._following = False
                with contextlib.suppress(Exception):
                    pubsub.close()

    def get(self, generation: int, key: str) -> Page | None:
        """The page stored for ``key`` in ``generation``, or None."""
        if not self.enabled or generation < 0:
            return None
        now = time.monotonic()
        local = self._local.get((generation, key))
        if local is not None and (self._redis is not None or local[0] > now):
            return local[1]
        if self._redis is None:
            return None
        try:
            raw = self._redis.get(f"{self.prefix}:{generation}:{key}")
        except Exception:
            return None
        if raw is None:
            return None
        page = Page.loads(raw)
        self._remember(generation, key, page)
        return page

    def set(self, generation: int, key: str, page: Page) -> None:
        """Store ``page`` for ``key`` in ``generation``."""
        if not self.enabled or generation < 0:
            return
        self._remember(generation, key, page)
        if self._redis is not None:
            try:
                self._redis.set(f"{self.prefix}:{generation}:{key}", page.dumps(), ex=self.ttl)
            except Exception:
                return

    def _remember(self, generation: int, key: str, page: Page) -> None:
        with self._lock:
            if generation != self._generation:
                return  # an old generation's page: never kept in this process
            self._local[(generation, key)] = (time.monotonic() + self.local_ttl, page)
            while len(self._local) > LOCAL_MAX_ENTRIES:
                self._local.popitem(last=False)

    def bump(self) -> int:
        """Start a new generation: every cached page is out of date (in every process)."""
        if self._redis is None:
            with self._lock:
                self._generation += 1
                self._local.clear()
            return self._generation
        try:
            value = int(self._redis.incr(f"{self.prefix}:generation"))
            self._advance(value)  # this process at once; the others through pub/sub
            self._redis.publish(self.channel, value)
            return value
        except Exception:
            current_app.logger.exception("page cache: could not bump the generation")
            with self._lock:
                self._local.clear()
            return self._generation


def get_cache(app: Flask | None = None) -> PageCache:
    """The app's page cache."""
    return (app or current_app).extensions[EXTENSION_KEY]


def invalidate_after_commit() -> None:
    """Mark the current transaction as changing public pages (bumped after commit)."""
    from portal.extensions import db

    db.session.info[FLAG] = True


def invalidate_now(app: Flask | None = None) -> int:
    """Bump the generation at once (CLI, tests)."""
    return get_cache(app).bump()


def _after_commit(session: Session) -> None:
    if session.info.pop(FLAG, False) and has_app_context():
        cache = current_app.extensions.get(EXTENSION_KEY)
        if cache is not None:
            cache.bump()


def _after_rollback(session: Session) -> None:
    session.info.pop(FLAG, None)


_listening = False


def init_cache(app: Flask) -> None:
    """Create the app's page cache and listen for commits that change public pages."""
    global _listening
    config = app.config
    redis_url = config.get("PUBLIC_PAGE_CACHE_REDIS_URL") or config.get("REDIS_URL") or ""
    mode = str(config.get("PUBLIC_PAGE_CACHE", "auto")).lower()
    app.extensions[EXTENSION_KEY] = PageCache(
        redis_url=redis_url if mode != "local" else "",
        ttl=int(config.get("PUBLIC_PAGE_CACHE_TTL", 300)),
        local_ttl=float(config.get("PUBLIC_PAGE_CACHE_LOCAL_TTL", 5)),
        enabled=mode != "off",
        prefix=config.get("PUBLIC_PAGE_CACHE_PREFIX", "portal:pages"),
    )
    if not _listening:
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        _listening = True
