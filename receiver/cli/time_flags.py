"""Time flags that take a relative time: argparse reads a word that starts with `-` (and is not a plain
negative number) as the next option, so `--from -6h` is refused with "expected one argument". Such a value
is joined to its flag (`--from=-6h`) before parsing."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

RELATIVE_TIME = re.compile(r"-\d")  # -6h, -90m, -1.5d: what receiver.times.parse_time reads as "ago"


def join_relative_times(argv: Sequence[str], flags: Collection[str]) -> list[str]:
    """`argv` with each of `flags` that is followed by a relative time written as one `--flag=value` word
    (up to a `--`, after which every word is an argument)."""
    joined: list[str] = []
    for word in argv:
        if joined and joined[-1] in flags and RELATIVE_TIME.match(word) and "--" not in joined:
            joined[-1] = f"{joined[-1]}={word}"
        else:
            joined.append(word)
    return joined
