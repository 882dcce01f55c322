"""Font files for labels and header text, found on this machine (none are shipped).

When no TrueType/OpenType font is installed, text falls back to OpenCV's Hershey fonts.
"""
from __future__ import annotations

import functools
from pathlib import Path

#: Folders searched for fonts, in order.
FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype"),
    Path("/usr/share/fonts/opentype"),
)
#: Font families that look like ECG machine print; others (symbols, CJK) are skipped.
_WANTED = ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "NimbusSans", "NimbusRoman",
           "NimbusMono", "NotoSansMono", "NotoMono", "URWGothic", "C059", "P052")


@functools.lru_cache(maxsize=1)
def available_fonts() -> tuple[str, ...]:
    """Sorted paths of usable font files (may be empty)."""
    found: list[str] = []
    for folder in FONT_DIRS:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix.lower() in (".ttf", ".otf") and path.name.startswith(_WANTED):
                found.append(str(path))
    return tuple(sorted(found))
