# SPDX-License-Identifier: AGPL-3.0-or-later
"""CSV exports open safely in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from socialdesk.exports import csv_text, spreadsheet_safe


def test_csv_has_a_header_and_neutralises_formulas() -> None:
    text = csv_text(("a", "b"), [("=HYPERLINK(1)", "plain"), ("-2", None), ("@x", 3)])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "b"], ["'=HYPERLINK(1)", "plain"], ["'-2", ""], ["'@x", "3"]]
    assert text.endswith("\r\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+1 555", "'+1 555"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_spreadsheet_safe(value: object, expected: str) -> None:
    assert spreadsheet_safe(value) == expected
