"""Multipart form parsing: no per-request regex compilation, and a fast path for small bodies.

The claim form is multipart because it takes photos; a claim without one is 20 small parts
(~2.5 KB). Werkzeug's parser was about a tenth of a claim's server CPU there:

* ``MultipartDecoder`` compiles two patterns that embed the request's boundary. Browsers pick
  a new random boundary for every submission, so Python's pattern cache never helps: the
  two compilations cost about 0.2 ms. ``PrecompiledMultipartDecoder`` finds the boundary
  with ``bytes.find`` and checks what follows it with one pattern compiled once, giving the
  same matches as Werkzeug's patterns (tested against them with generated inputs).
* The event loop around it (events, a ``Headers`` object and ``parse_options_header`` per
  part, buffer copies) still took 0.27 ms per claim body. ``FastMultiPartParser`` reads a
  body of at most ``FAST_PATH_MAX`` bytes at once and splits it with ``bytes.find``
  (0.035 ms; a claim's in-process CPU went from 3.6 to 3.2 ms), accepting only the plain
  form browsers send: CRLF line breaks, ``form-data; name="..."[; filename="..."]``
  without escapes, an optional Content-Type. Whatever else it meets, it hands the same
  bytes, in the same reads, to Werkzeug's parser, so results and errors stay Werkzeug's
  (tested with generated and mutated bodies).

``install()`` makes Werkzeug's form parser use both; a test fails if a Werkzeug upgrade
stops using the names.
"""

from __future__ import annotations

import io
import re

from werkzeug import formparser
from werkzeug.datastructures import FileStorage, Headers
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


FAST_PATH_MAX = 64 * 1024  # bodies up to this size are read at once and split directly

# A part's headers as browsers send them, when Werkzeug reads each line's value unchanged
# (but Content-Type's, stripped of blanks) and parse_options_header returns the quoted
# texts as they are: no backslash escapes, no "%22", no RFC 2231 "*=" forms.
_HEAD = re.compile(
    r'Content-Disposition: (form-data; name="([^"\\%\r\n]*)"(?:; filename="([^"\\%\r\n]*)")?)'
    r"(?:\r\nContent-Type:([^\r\n]*))?"
)
_WerkzeugParser = formparser.MultiPartParser


class _Replay:
    """A stream giving back the chunks already read from ``stream``, then reading on."""

    def __init__(self, chunks: list[bytes], stream):
        self._chunks, self._stream = chunks, stream

    def read(self, size: int = -1) -> bytes:
        """The next kept chunk (read with the same size), else from the stream."""
        if self._chunks:
            return self._chunks.pop(0)
        return self._stream.read(size)


class FastMultiPartParser(_WerkzeugParser):
    """Werkzeug's ``MultiPartParser`` that splits small plain bodies itself.

    Werkzeug reads ``buffer_size`` chunks until an empty read; a body that arrives as one
    chunk is parsed by ``parse_whole``, or by Werkzeug when that returns None. Anything
    else goes to Werkzeug with the chunks already read replayed, so Werkzeug sees the same
    reads (its size checks depend on them) and raises where it would.
    """

    def parse(self, stream, boundary: bytes, content_length: int | None):
        """``(form, files)`` as Werkzeug's ``parse`` returns them, or its exception."""
        limit = min(FAST_PATH_MAX, self.buffer_size)
        if content_length is None or content_length > limit:
            return super().parse(stream, boundary, content_length)
        first = stream.read(self.buffer_size)
        # Werkzeug refuses a chunk over max_form_memory_size before reading the next one.
        if len(first) > limit or (
            self.max_form_memory_size is not None and len(first) > self.max_form_memory_size
        ):
            return super().parse(_Replay([first], stream), boundary, content_length)
        more = stream.read(self.buffer_size) if first else b""
        if more:
            return super().parse(_Replay([first, more], stream), boundary, content_length)
        result = self.parse_whole(first, boundary, content_length)
        if result is None:
            return super().parse(io.BytesIO(first), boundary, content_length)
        return result

    def parse_whole(self, body: bytes, boundary: bytes, content_length: int | None):
        """``(form, files)`` from a whole body in the plain form, else None.

        Mirrors Werkzeug's decoder on one chunk: a part's headers end at the first blank
        line, its data at the first "--boundary" preceded by a line break and followed by
        what ``_TAIL`` matches. Only CRLF forms are accepted; a body within
        ``max_form_memory_size`` cannot exceed it in a field, and more parts than
        ``max_form_parts`` are left to Werkzeug to refuse.
        """
        marker = b"--" + boundary
        size = len(marker)
        at = 2 if body[:2] == b"\r\n" else 0  # Werkzeug's test client starts with a CRLF
        after = body[at + size:at + size + 2]
        if body[at:at + size] != marker or after not in (b"\r\n", b"--"):
            return None
        find, max_parts = body.find, self.max_form_parts
        fields: list = []
        files: list = []
        while after != b"--":
            pos = at + size + 2
            head_end = find(b"\r\n\r\n", pos)
            if head_end == -1:
                return None
            try:
                head = _HEAD.fullmatch(body[pos:head_end].decode())
            except UnicodeDecodeError:
                return None
            if head is None or (max_parts is not None and len(fields) + len(files) >= max_parts):
                return None
            start = head_end + 4
            at = find(marker, start)
            while True:
                if at == -1:
                    return None
                after = body[at + size:at + size + 2]
                if body[at - 1] in b"\r\n":
                    if after in (b"\r\n", b"--"):
                        break
                    if _TAIL.match(body, at + size):
                        return None  # a boundary with blanks or a lone CR/LF after it
                at = find(marker, at + 1)
            if at == start:  # "\r\n\r\n--boundary": Werkzeug reads empty data
                data = b""
            elif at - 2 < start or body[at - 2:at] != b"\r\n":
                return None
            else:
                data = body[start:at - 2]
            disposition, name, filename, content_type = head.groups()
            items = [("Content-Disposition", disposition)]
            if content_type is not None:
                items.append(("Content-Type", content_type.strip(" \t")))
            if filename is None:
                charset = "utf-8" if content_type is None else self.get_part_charset(Headers(items))
                fields.append((name, data.decode(charset, "replace")))
            else:
                headers = Headers(items)
                event = sansio_multipart.File(name=name, filename=filename, headers=headers)
                container = self.start_file_streaming(event, content_length)
                container.write(data)
                container.seek(0)
                files.append((name, FileStorage(container, filename, name, headers=headers)))
        return self.cls(fields), self.cls(files)


def install() -> None:
    """Make Werkzeug's form parser build this decoder and parser."""
    formparser.MultipartDecoder = PrecompiledMultipartDecoder
    formparser.MultiPartParser = FastMultiPartParser
