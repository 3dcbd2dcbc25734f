"""Multipart form parsing without compiling two regular expressions per request.

Werkzeug's ``MultipartDecoder`` compiles two patterns that embed the request's boundary.
Browsers pick a new random boundary for every submission, so Python's pattern cache never
helps: the two compilations cost about 0.2 ms, a twentieth of a claim's server time (the
claim form is multipart because it takes photos).

``PrecompiledMultipartDecoder`` finds the boundary with ``bytes.find`` and checks what
follows it with one pattern compiled once, giving the same matches as Werkzeug's patterns
(the property is tested against them with generated inputs). ``install()`` makes
Werkzeug's form parser use it; a test fails if a Werkzeug upgrade stops using the name.
"""

from __future__ import annotations

import re

from werkzeug.sansio import multipart as sansio_multipart

# What may follow "--boundary": the closing "--" (then optional blanks and line break), or
# blanks and a line break. Same as Werkzeug's pattern after the boundary.
_TAIL = re.compile(rb"(--[^\S\n\r]*(?:\r\n|\n|\r)?|[^\S\n\r]*(?:\r\n|\n|\r))")
_LINE_BREAKS = (b"\n", b"\r")


class _Found:
    """The parts of a match object the decoder reads."""

    __slots__ = ("_end", "_start", "_tail")

    def __init__(self, start: int, end: int, tail: bytes):
        self._start, self._end, self._tail = start, end, tail

    def start(self) -> int:
        """Where the match starts (its line break, if any)."""
        return self._start

    def end(self) -> int:
        """Where the match ends."""
        return self._end

    def group(self, index: int = 0):
        """Group 1: what follows the boundary."""
        if index != 1:
            raise IndexError("only group 1 is kept")
        return self._tail


class BoundaryFinder:
    """``search`` like Werkzeug's boundary pattern: an optional (preamble) or required
    line break, ``--`` and the boundary, then ``_TAIL``."""

    def __init__(self, boundary: bytes, line_break_required: bool):
        self.marker = b"--" + boundary
        self.line_break_required = line_break_required

    def search(self, data, pos: int = 0) -> _Found | None:
        """The leftmost match at or after ``pos``, or None."""
        marker = self.marker
        at = data.find(marker, pos)
        while at != -1:
            tail = _TAIL.match(data, at + len(marker))
            if tail is not None:
                if at - 2 >= pos and data[at - 2:at] == b"\r\n":
                    start = at - 2
                elif at - 1 >= pos and data[at - 1:at] in _LINE_BREAKS:
                    start = at - 1
                else:
                    start = None if self.line_break_required else at
                if start is not None:
                    return _Found(start, tail.end(), tail.group(1))
            at = data.find(marker, at + 1)
        return None


_PLACEHOLDER = b"portal-placeholder-boundary"  # compiled once by the parent, then cached


class PrecompiledMultipartDecoder(sansio_multipart.MultipartDecoder):
    """Werkzeug's decoder with the two per-boundary patterns replaced by finders."""

    def __init__(self, boundary: bytes, *args, **kwargs):
        super().__init__(_PLACEHOLDER, *args, **kwargs)  # every other attribute as Werkzeug sets it
        self.boundary = boundary
        self.preamble_re = BoundaryFinder(boundary, line_break_required=False)
        self.boundary_re = BoundaryFinder(boundary, line_break_required=True)


def install() -> None:
    """Make Werkzeug's form parser build this decoder."""
    from werkzeug import formparser

    formparser.MultipartDecoder = PrecompiledMultipartDecoder
