# SPDX-License-Identifier: AGPL-3.0-or-later
"""CSV documents for people to open in a spreadsheet: every list's "Export CSV".

A cell that starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) would be run by Excel or LibreOffice when the file is opened (CSV injection), and
any of it can come from outside: a handle, a comment, a post's text. Such a cell gets a
leading ``'``, which spreadsheets read as "this is text".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

__all__ = ["csv_text", "spreadsheet_safe"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document (header row first, CRLF line ends as RFC 4180 says)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(value) for value in row] for row in rows)
    return out.getvalue()
