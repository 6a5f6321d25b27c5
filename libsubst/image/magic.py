"""What tells a packed image from a program, cheaply: ``libsubst run``
checks every target, and a program's run must not import the image code."""

from __future__ import annotations

import os
import stat

MAGIC = b"\x89LSI\r\n\x1a\n"     # the first 8 bytes of an image (docs/image-format.md)


def is_image(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an image: a regular file that starts with the
    image magic, or any existing file named ``*.lsi`` (so that a damaged one
    is reported as a bad image, not run as a program)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False        # never open a fifo or a device just to look
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC or os.fspath(path).endswith(".lsi")
    except (OSError, TypeError, ValueError):
        return False
