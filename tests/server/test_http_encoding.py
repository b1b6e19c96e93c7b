"""Which answers go gzip-compressed: ``Accept-Encoding`` read as RFC 9110 reads it."""

from __future__ import annotations

import gzip

import pytest

from server.http import GZIP_ABOVE, accepts_gzip, content_encoded


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("gzip", True),
        ("GZIP", True),
        ("gzip, deflate", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*, gzip;q=0", False),
        ("*;q=0", False),
        ("br;q=1, *;q=0.1", True),
        ("gzip;q=1e999", False),  # a weight no client means: that entry is dropped
        ("gzip;q=x", False),
        ("gzip;q=2", False),
    ],
)
def test_accept_encoding_admits_gzip(header: str | None, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_a_large_body_is_compressed_and_inflates_to_itself() -> None:
    body = b'{"entity":"event","notes":"power supply reseated"}' * 100
    encoded = content_encoded(body, gzip_ok=True)
    assert encoded.headers["Content-Encoding"] == "gzip"
    assert encoded.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(encoded.body) == body and len(encoded.body) < len(body) / 10


@pytest.mark.parametrize(("size", "gzip_ok"), [(GZIP_ABOVE, True), (GZIP_ABOVE * 10, False)])
def test_a_small_body_or_a_caller_without_gzip_gets_it_plain(size: int, gzip_ok: bool) -> None:
    body = b"x" * size
    encoded = content_encoded(body, gzip_ok)
    assert encoded.body == body and "Content-Encoding" not in encoded.headers
