"""Text for the user's terminal, whatever its encoding.

Tables and messages use a few marks outside ASCII (the partial and unpaired marks, arrows, dashes).
Under a Latin-1 or ASCII locale printing them raised UnicodeEncodeError after the work
was done; instead each mark is written as an ASCII stand-in, and any other character the
locale cannot show as `?`. Files are still written as UTF-8.
"""

from __future__ import annotations

import codecs
import io
import sys

ASCII_MARKS = {
    "\u2020": "+",  # † computed from fewer items
    "\u2021": "#",  # ‡ could not be paired
    "\u00b1": "+/-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u2192": "->",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2212": "-",
    "\u00d7": "x",
}
ERRORS = "sbt-ascii-marks"


def _stand_in(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = "".join(ASCII_MARKS.get(ch, "?") for ch in err.object[err.start : err.end])
    return text, err.end


codecs.register_error(ERRORS, _stand_in)


def fit_streams_to_locale() -> None:
    """Make stdout and stderr write marks their encoding lacks as ASCII stand-ins."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors=ERRORS)
