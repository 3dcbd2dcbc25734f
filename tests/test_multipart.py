"""portal.multipart: the boundary finder gives exactly the matches of Werkzeug's patterns,
and Werkzeug's form parser uses it."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug import formparser
from werkzeug.sansio.multipart import MultipartDecoder

from portal.multipart import BoundaryFinder, PrecompiledMultipartDecoder, install

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
    boundary = "----formBoundary7MA4YWxk"
    body = _body(boundary)
    parser = formparser.MultiPartParser()
    form, files = parser.parse(io.BytesIO(body), boundary.encode(), len(body))
    assert form["a"] == "one"
    assert files["f"].read() == f"line1\r\n--{boundary}x\r\nline2".encode()
