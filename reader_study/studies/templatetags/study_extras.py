"""Small filters for the analysis templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get(mapping, key):
    """`mapping[key]`, or "" when absent."""
    return (mapping or {}).get(key, "")


@register.filter
def interval(bounds, digits: int = 3) -> str:
    """A confidence interval as "low–high", or "—" when there is none."""
    if not bounds or any(b is None for b in bounds):
        return "—"
    return f"{bounds[0]:.{digits}f}–{bounds[1]:.{digits}f}"
