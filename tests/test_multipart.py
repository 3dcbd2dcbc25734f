"""portal.multipart: the boundary finder gives exactly the matches of Werkzeug's patterns,
the fast path gives exactly Werkzeug's results and errors, and Werkzeug's form parser uses
both."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from flask import Flask, request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import formparser
from werkzeug.datastructures import MultiDict
from werkzeug.sansio.multipart import MultipartDecoder

from portal.multipart import (
    FAST_PATH_MAX,
    BoundaryFinder,
    FastMultiPartParser,
    PrecompiledMultipartDecoder,
    install,
)

BOUNDARY = b"----bench3f2a"
PIECES = [b"--", BOUNDARY, b"----bench3f", b"\r\n", b"\n", b"\r", b" ", b"\t", b"x", b"-",
          b"\x0b"]


def _as_tuple(match):
    return None if match is None else (match.start(), match.end(), bytes(match.group(1)))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14), st.integers(0, 12),
       st.sampled_from([BOUNDARY, b"-", b"ab", b"--x"]))
def test_same_matches_as_werkzeugs_patterns(pieces, pos, boundary):
    data = bytearray(b"".join(p if p != BOUNDARY else boundary for p in pieces))
    pos = min(pos, len(data))
    reference = MultipartDecoder(boundary)
    ours = (BoundaryFinder(boundary, line_break_required=False),
            BoundaryFinder(boundary, line_break_required=True))
    expected = (reference.preamble_re.search(data, pos), reference.boundary_re.search(data))
    assert _as_tuple(ours[0].search(data, pos)) == _as_tuple(expected[0])
    assert _as_tuple(ours[1].search(data)) == _as_tuple(expected[1])


def _body(boundary: str) -> bytes:
    return (f"preamble\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
            f"one\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; "
            f"filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\n--{boundary}x"
            f"\r\nline2\r\n--{boundary}--\r\nepilogue").encode()


def test_werkzeugs_parser_uses_it_and_parses_the_same():
    install()
    assert formparser.MultipartDecoder is PrecompiledMultipartDecoder
    assert formparser.MultiPartParser is FastMultiPartParser
    boundary = "----formBoundary7MA4YWxk"
    body = _body(boundary)
    parser = formparser.MultiPartParser()
    form, files = parser.parse(io.BytesIO(body), boundary.encode(), len(body))
    assert form["a"] == "one"
    assert files["f"].read() == f"line1\r\n--{boundary}x\r\nline2".encode()


# --- The fast path for small bodies: same results and errors as Werkzeug's own parser ---

STOCK_PARSER = FastMultiPartParser.__base__  # Werkzeug's MultiPartParser
WEBKIT = b"----WebKitFormBoundaryq7MA4YWxkTrZu0gW"
BOUNDARIES = [WEBKIT, b"---------------------------9051914041544843365972754266", b"-",
              b"--x", b"ab"]
TRICKY = ["\r\n", "\r", "\n", "-", "--", " ", '"', "%22", "é", "\x00"]
CHARSETS = {None: "utf-8", "text/plain; charset=iso-8859-1": "iso-8859-1",
            "text/plain; charset=koi8-r": "utf-8"}
FILE_TYPES = ["application/octet-stream", "image/jpeg", "text/plain; charset=utf-8", " x/y ", ""]
names = st.text(st.characters(codec="utf-8"), max_size=8)


def _tricky_bytes(boundary: bytes):
    marker = b"--" + boundary
    pieces = [marker, b"\r\n" + marker, b"\r\n" + marker + b"x", b"\r\n" + marker[:-1],
              b"x" + marker + b"\r\n", b"\r\n" + marker + b" \r\n", b"\n" + marker + b"\r\n",
              b"\r\n" + marker + b"\r\n", b"\r\n" + marker + b"--", *(t.encode() for t in TRICKY)]
    return st.sampled_from(pieces)


@st.composite
def forms(draw, boundary: bytes, max_parts: int = 24):
    """Parts as a browser submits them: ("field", name, content type, value bytes) or
    ("file", name, filename, content type, bytes); values may contain boundary-like bytes."""
    chunk = st.one_of(st.text(st.characters(codec="utf-8"), max_size=6).map(str.encode),
                      st.binary(max_size=6), _tricky_bytes(boundary))
    data = st.lists(chunk, max_size=6).map(b"".join)
    field = st.tuples(st.just("field"), names, st.sampled_from(list(CHARSETS)), data)
    upload = st.tuples(st.just("file"), names, st.one_of(st.just(""), names),
                       st.sampled_from(FILE_TYPES), data)
    return draw(st.lists(st.one_of(field, field, upload), max_size=max_parts))


def _quoted(text: str) -> bytes:
    """A name as browsers put it between quotes (HTML's multipart/form-data encoding)."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22").encode()


def _encode(form, boundary: bytes, test_client: bool = False) -> bytes:
    """As browsers send it or, with ``test_client``, as Werkzeug's test client does (a CRLF
    first, none between an empty value and the next delimiter)."""
    out = [b"\r\n" if test_client else b""]
    for part in form:
        out.append(b"--" + boundary + b'\r\nContent-Disposition: form-data; name="'
                   + _quoted(part[1]) + b'"')
        if part[0] == "field":
            out.append(b"" if part[2] is None else b"\r\nContent-Type: " + part[2].encode())
        else:
            out.append(b'; filename="' + _quoted(part[2]) + b'"\r\nContent-Type: '
                       + part[3].encode())
        out.append(b"\r\n\r\n" if test_client and not part[-1] else b"\r\n\r\n" + part[-1]
                   + b"\r\n")
    return b"".join([*out, b"--" + boundary + b"--\r\n"])


def _plain(form, boundary: bytes) -> bool:
    """The fast path must take this form: plain names and no delimiter-like data."""
    quoted = [_quoted(text) for part in form for text in part[1:3] if isinstance(text, str)]
    starts = [(b"\n" + part[-1]).replace(b"\r", b"\n") for part in form]
    return (not any(b"%" in text or b"\\" in text for text in quoted)
            and not any(b"\n--" + boundary in data for data in starts))


def _normal(result):
    form, files = result
    return (list(form.items(multi=True)),
            [(key, f.name, f.filename, f.content_type, list(f.headers), f.read())
             for key, f in files.items(multi=True)])


def _outcome(parse):
    try:
        return _normal(parse())
    except Exception as exc:  # the exception type is the outcome to compare
        return type(exc)


class _Trickle:
    """A stream returning at most ``step`` bytes per read (a slow client)."""

    def __init__(self, data: bytes, step: int | None):
        self.stream, self.step = io.BytesIO(data), step

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size if self.step is None else min(size, self.step))


@contextlib.contextmanager
def _decoder(decoder):
    saved = formparser.MultipartDecoder
    formparser.MultipartDecoder = decoder
    try:
        yield
    finally:
        formparser.MultipartDecoder = saved


def _stock(body: bytes, boundary: bytes, length: int | None, step=None, **limits):
    """Werkzeug's parser with its own decoder."""
    with _decoder(MultipartDecoder):
        return _outcome(lambda: STOCK_PARSER(**limits).parse(_Trickle(body, step), boundary,
                                                             length))


def _fast(body: bytes, boundary: bytes, length: int | None, step=None, **limits):
    """The parser and decoder install() puts in."""
    with _decoder(PrecompiledMultipartDecoder):
        return _outcome(lambda: FastMultiPartParser(**limits).parse(_Trickle(body, step),
                                                                    boundary, length))


LIMITS = {"max_form_memory_size": 500_000, "max_form_parts": 1000}  # Flask's defaults


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(BOUNDARIES), st.booleans())
def test_fast_path_reads_browser_forms_as_werkzeug(data, boundary, test_client):
    form = data.draw(forms(boundary))
    body = _encode(form, boundary, test_client)
    expected = _stock(body, boundary, len(body), **LIMITS)
    whole = FastMultiPartParser(**LIMITS).parse_whole(body, boundary, len(body))
    if boundary == WEBKIT and _plain(form, boundary):
        assert whole is not None
        fields = MultiDict([(p[1], p[3].decode(CHARSETS[p[2]], "replace"))
                            for p in form if p[0] == "field"])
        files = MultiDict([(p[1], (p[2], p[3].strip(" \t"), p[4])) for p in form
                           if p[0] == "file"])
        assert expected[0] == list(fields.items(multi=True))
        assert [(f[0], (f[2], f[3], f[5])) for f in expected[1]] == list(files.items(multi=True))
    if whole is not None:
        assert _normal(whole) == expected
    assert _fast(body, boundary, len(body), **LIMITS) == expected
    # Limits at the edge, slow clients, small buffers: the same result or exception.
    limits = {"max_form_memory_size": data.draw(st.sampled_from([None, len(body) - 1,
                                                                 len(body)])),
              "max_form_parts": data.draw(st.sampled_from([None, len(form) - 1, len(form)])),
              "buffer_size": data.draw(st.sampled_from([64 * 1024, len(body), len(body) - 1]))}
    step = data.draw(st.sampled_from([None, None, 1, 7]))
    assert _fast(body, boundary, len(body), step, **limits) == _stock(body, boundary, len(body),
                                                                      step, **limits)


MUTATION_BYTES = [b"\r", b"\n", b"\r\n", b"-", b"--", b" ", b"\t", b'"', b"\\", b"%", b";",
                  b":", b"=", b"*", b"x", b"\xff", b"\xc3", b"C", b"c", b"--" + WEBKIT]


@settings(max_examples=600, deadline=None)
@given(st.data(), st.sampled_from([WEBKIT, WEBKIT, b"-", b"ab"]),
       st.sampled_from([None, 0, 0, 0, -1, 7, 70_000]),
       st.sampled_from([None, None, None, 1, 5, 100]),
       st.fixed_dictionaries({"max_form_memory_size": st.sampled_from([None, 40, 500_000]),
                              "max_form_parts": st.sampled_from([None, 2, 1000]),
                              "buffer_size": st.sampled_from([64 * 1024, 64 * 1024, 50])}))
def test_mutated_bodies_give_werkzeugs_outcome(data, boundary, length_delta, step, limits):
    body = bytearray(_encode(data.draw(forms(boundary, max_parts=4)), boundary))
    structure = re.compile(re.escape(b"--" + boundary) + rb'|\r\n|[";:=]')
    for _ in range(data.draw(st.integers(0, 4))):
        # Anywhere, or next to a delimiter, line break or header punctuation.
        edges = [i for m in structure.finditer(body) for i in m.span()] or [0]
        at = data.draw(st.one_of(st.integers(0, len(body)), st.sampled_from(edges)))
        operation = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.sampled_from(MUTATION_BYTES))
        if operation == "insert":
            body[at:at] = piece
        else:
            body[at:at + len(piece) if operation == "replace" else at + 1] = (
                piece if operation == "replace" else b"")
    body = bytes(body)
    memory = limits["max_form_memory_size"]
    if memory is None or len(body) <= memory:  # parse() leaves larger bodies to Werkzeug
        whole = FastMultiPartParser(**limits).parse_whole(body, boundary, len(body))
        # Werkzeug's result can depend on its chunks (an empty part may read as "\r" when
        # a chunk ends inside the CRLF before the boundary): compare with one chunk.
        one_chunk = {**limits, "buffer_size": 64 * 1024}
        assert whole is None or _normal(whole) == _stock(body, boundary, len(body), **one_chunk)
    # Werkzeug reads to the end whatever the content length says: it is only passed on to
    # the stream factory (and None sends everything to Werkzeug).
    length = None if length_delta is None else max(0, len(body) + length_delta)
    assert _fast(body, boundary, length, step, **limits) == _stock(body, boundary, length, step,
                                                                   **limits)


_CD = b'\r\nContent-Disposition: form-data; name="a"\r\n\r\none\r\n'
ODD_BODIES = {  # (body with B for the boundary, whether the fast path takes it)
    "plain": (b"--B" + _CD + b"--B--\r\n", True),
    "empty form": (b"--B--\r\n", True),
    "junk after the first delimiter": (b"--Bxx" + _CD[2:] + b"--B" + _CD + b"--B--", False),
    "blank after a delimiter": (b"--B \r\n" + _CD[2:] + b"--B--", False),
    "preamble": (b"hello\r\n--B" + _CD + b"--B--", False),
    "LF only": (b"--B" + _CD.replace(b"\r\n", b"\n") + b"--B--\n", False),
    "lone LF before a delimiter": (b"--B" + _CD[:-2] + b"\n--B--", False),
    "no closing delimiter": (b"--B" + _CD, False),
    "data that only looks like a delimiter": (b"--B" + _CD[:-2] + b"\r\n--Bx\r\n--B--", True),
    "closing delimiter then more parts": (b"--B" + _CD + b"--B--" + _CD + b"--B--", True),
    "RFC 2231 name": (b"--B\r\nContent-Disposition: form-data; name*=UTF-8''%C3%A9\r\n\r\n"
                      b"x\r\n--B--", False),
    "escaped quote": (b'--B\r\nContent-Disposition: form-data; name="a\\"b"\r\n\r\nx\r\n--B--',
                      False),
    "%22": (b'--B\r\nContent-Disposition: form-data; name="a%22"\r\n\r\nx\r\n--B--', False),
    "unquoted name": (b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--B--", False),
    "no name": (b'--B\r\nContent-Disposition: form-data; filename="f"\r\n\r\nx\r\n--B--', False),
    "attachment": (b'--B\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--B--', False),
    "folded header": (b'--B\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\nx\r\n--B--',
                      False),
    "lower-case header": (b'--B\r\ncontent-disposition: form-data; name="a"\r\n\r\nx\r\n--B--',
                          False),
    "other header": (b'--B\r\nContent-Disposition: form-data; name="a"\r\nX-A: 1\r\n\r\n'
                     b"x\r\n--B--", False),
    "no headers": (b"--B\r\n\r\nx\r\n--B--", False),
    "invalid UTF-8 name": (b'--B\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nx\r\n'
                           b"--B--", False),
    "field charset": (b'--B\r\nContent-Disposition: form-data; name="a"\r\n'
                      b"Content-Type: text/plain; charset=ISO-8859-1\r\n\r\n\xe9\r\n--B--", True),
}


@pytest.mark.parametrize("case", list(ODD_BODIES))
def test_odd_bodies_give_werkzeugs_outcome(case):
    template, fast = ODD_BODIES[case]
    boundary = b"----WebKitFormBoundaryx"
    body = template.replace(b"B", boundary)
    whole = FastMultiPartParser(**LIMITS).parse_whole(body, boundary, len(body))
    expected = _stock(body, boundary, len(body), **LIMITS)
    assert (whole is not None) == fast
    assert whole is None or _normal(whole) == expected
    assert _fast(body, boundary, len(body), **LIMITS) == expected


def test_flask_requests_take_the_fast_path(monkeypatch):
    install()
    assert formparser.MultiPartParser is FastMultiPartParser
    taken = []
    parse_whole = FastMultiPartParser.parse_whole

    def counted(self, *args):
        result = parse_whole(self, *args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(FastMultiPartParser, "parse_whole", counted)
    app = Flask(__name__)

    @app.post("/")
    def echo():
        return {"form": [list(item) for item in request.form.items(multi=True)],
                "files": [[key, f.filename, f.content_type, len(f.read())]
                          for key, f in request.files.items(multi=True)]}

    client = app.test_client()
    form = [("field", "name", None, "Zoë \r\n--x".encode()), ("field", "a", None, b""),
            ("field", "a", None, b"2"), ("file", "photo", "p.jpg", "image/jpeg", b"\xff\xd8"),
            ("file", "evidence", "", "application/octet-stream", b"")]
    body = _encode(form, WEBKIT)
    content_type = "multipart/form-data; boundary=" + WEBKIT.decode()
    got = client.post("/", data=body, content_type=content_type).get_json()
    assert taken == [True]
    assert got == {"form": [["name", "Zoë \r\n--x"], ["a", ""], ["a", "2"]],
                   "files": [["photo", "p.jpg", "image/jpeg", 2],
                             ["evidence", "", "application/octet-stream", 0]]}

    # Werkzeug's test client encodes its own way (a leading line break, no line break
    # before the closing delimiter after an empty file): still the fast path.
    got = client.post("/", data={"a": "1", "f": (io.BytesIO(b""), "")}).get_json()
    assert taken == [True, True]
    assert got == {"form": [["a", "1"]], "files": [["f", "", "application/octet-stream", 0]]}

    big = _encode([*form, ("file", "big", "big.bin", "image/png", b"\r\n" * 40_000)], WEBKIT)
    assert len(big) > FAST_PATH_MAX
    got = client.post("/", data=big, content_type=content_type).get_json()
    assert taken == [True, True]  # Werkzeug's parser read it
    assert got["files"][-1] == ["big", "big.bin", "image/png", 80_000]
    assert got["form"][0] == ["name", "Zoë \r\n--x"]
