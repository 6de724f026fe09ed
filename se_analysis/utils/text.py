"""Words for counts in messages: ``plural(1, "image")`` is "1 image", ``plural(3, "image")`` "3 images"."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1 (``many``: an irregular plural; default ``word + "s"``)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
