"""Numbers on the workbench's pages read as an SRE writes them."""

from __future__ import annotations

import pytest

from receiver.web.templating import number, percent


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (1e8, "100M"),
        (99_970_000, "99.97M"),
        (2.13e9, "2.13G"),
        (15_000, "15k"),
        (0.1775, "0.1775"),
        (None, ""),
    ],
)
def test_number(x: float | None, text: str):
    assert number(x) == text


@pytest.mark.parametrize(
    ("x", "text"), [(0.4827, "+48.3%"), (0.00034, "+0.034%"), (-0.0283, "-2.83%"), (None, "")]
)
def test_percent(x: float | None, text: str):
    assert percent(x) == text
