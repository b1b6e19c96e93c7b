"""What the laptop accepts as a picture: a signature with real ink on it, a photo that is one.

A file's media type is read from its first bytes, never taken from a name or a browser's word:
the laptop app serves these files back on its own origin, where anything that is not really
a PNG or a JPEG could be made to run as a page.

>>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8)), sniff(b"%PDF-1.7"), sniff(b"<svg")
('image/png', 'application/pdf', None)
"""

from __future__ import annotations

import io

from sync_protocol.i18n import N_

# Longest side of the inked area, as a share of the image width, below which a signature is
# a dot or a slip of the pen, not a signature.
MIN_STROKE_SHARE = 0.05
MIN_STROKE_PX = 10
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024
MAX_SIGNATURE_PIXELS = 4096 * 2048
MAX_PHOTO_BYTES = 25 * 1024 * 1024

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"%PDF-", "application/pdf"))


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are (PNG, JPEG, WebP, PDF), else None."""
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def signature_problem(png: bytes) -> tuple[str, str] | None:
    """Why this image cannot stand as a customer's signature, as (code, message); None: it can.
    Codes: ``not_png``, ``too_large``, ``unreadable``, ``empty``, ``dot``. Ink is whatever
    is darker than the paper once the image lies on white, so a transparent pad and a scanned
    white sheet are judged alike."""
    if sniff(png) != "image/png":
        return ("not_png", N_("the signature must be a PNG image"))
    if len(png) > MAX_SIGNATURE_BYTES:
        return ("too_large", N_("the signature image is larger than {mb} MB", mb=MAX_SIGNATURE_BYTES // (1024 * 1024)))
    from PIL import Image  # only signing needs it: keeps every other `field` command quick

    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.width * image.height > MAX_SIGNATURE_PIXELS:
                return ("too_large", N_("the signature image is too large"))
            rgba = image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return ("unreadable", N_("the signature image cannot be read"))
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    gray = Image.alpha_composite(paper, rgba).convert("L")
    ink = gray.point(lambda v: 255 if v < 160 else 0).getbbox()
    if ink is None:
        return ("empty", N_("the signature is empty: the customer has to sign on the pad"))
    longest = max(ink[2] - ink[0], ink[3] - ink[1])
    if longest < max(MIN_STROKE_PX, MIN_STROKE_SHARE * rgba.width):
        return ("dot", N_("the signature is only a dot: the customer has to sign, not tap"))
    return None
