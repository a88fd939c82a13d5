"""Money is integers of minor units (fen); this turns them into text without floats."""

from __future__ import annotations


def yuan(fen: int, *, cents: bool = False) -> str:
    """``12345`` -> ``"123.45"``; whole amounts drop the cents unless ``cents`` is set."""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    if fen % 100 or cents:
        return f"{sign}{fen // 100}.{fen % 100:02d}"
    return f"{sign}{fen // 100}"
