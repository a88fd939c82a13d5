"""QR codes: pickup codes the counter scans, invitation links friends scan.

Always a full QR code (``segno.make_qr``): for a short text ``segno.make`` picks a Micro QR
code, which most phone scanners and many counter scanners cannot read.
"""

from __future__ import annotations

import io

import segno


def qr_png(text: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=scale, border=3)
    return buffer.getvalue()
