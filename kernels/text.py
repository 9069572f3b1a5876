"""Quoting user text in error messages, shortened so a huge string is not echoed whole."""
from __future__ import annotations


def quoted(text: str, limit: int = 80) -> str:
    """``text`` in single quotes; past ``limit`` characters, its head, an ellipsis and its length."""
    text = str(text)
    if len(text) <= limit:
        return f"'{text}'"
    return f"'{text[:max(limit, 1)]}…' ({len(text)} characters)"
