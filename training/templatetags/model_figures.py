"""Filters for the model pages: figures as people read them, a dash where one is missing."""

from django import template

register = template.Library()

MISSING = "—"


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.9123 → "91.2%"."""
    if value is None or value == "":
        return MISSING
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def num(value, digits: int = 3) -> str:
    if value is None or value == "":
        return MISSING
    return f"{float(value):.{int(digits)}f}"


@register.filter
def figure(value, kind: str) -> str:
    """A comparison cell: "percent", "number", "count" or "seconds"."""
    if value is None:
        return MISSING
    if kind == "percent":
        return pct(value)
    if kind == "count":
        return str(int(value))
    if kind == "seconds":
        return f"{float(value):.1f} s"
    return num(value)
