"""CSV cells a spreadsheet shows but never runs (CSV formula injection). Every CSV the project writes passes its
cells through `inert`: a text cell that starts with = + - @, a tab or a carriage return gets a leading apostrophe,
so a gene product "=HYPERLINK(...)" opens as text. Numbers, also when written as text ("-0.5", "+1e-3"), and a lone
strand sign ("+", "-") stay as they are.
"""
from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_OR_SIGN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]")


def inert(cell):
    """`cell` as it is, unless it is text a spreadsheet could run: then "'" + cell. A carriage return inside the text
    becomes a line feed, which CSV writers quote (a bare CR is left unquoted and some readers start a row there)."""
    if not isinstance(cell, str):
        return cell
    out = cell.replace("\r\n", "\n").replace("\r", "\n") if "\r" in cell else cell
    if cell.startswith(FORMULA_START) and not _NUMBER_OR_SIGN.fullmatch(cell):
        return "'" + out
    return out


__all__ = ["inert", "FORMULA_START"]
