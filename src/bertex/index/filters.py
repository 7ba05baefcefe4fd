"""`where`: conditions on an index's fields, all of which a row must meet.

Accepted forms: a dict ({"lang": "en", "year": 2020}: equality), one string or a list of
strings ("lang=en", "year>=2020", "source!=wiki"). Operators: = == != < <= > >=. A string value
that reads as a number is compared as one when the field is numeric.

>>> parse({"lang": "en"})
[Condition(field='lang', op='=', value='en')]
>>> parse(["year>=2020", "lang != fr"])
[Condition(field='year', op='>=', value='2020'), Condition(field='lang', op='!=', value='fr')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import OptionError

OPS = ("=", "==", "!=", "<", "<=", ">", ">=")
_PATTERN = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


def parse(where: Any) -> list[Condition]:
    if where is None or where == {} or where == []:
        return []
    if isinstance(where, dict):
        return [Condition(str(k), "=", v) for k, v in where.items()]
    items = [where] if isinstance(where, str) else list(where)
    out = []
    for item in items:
        m = _PATTERN.match(item) if isinstance(item, str) else None
        if m is None:
            raise OptionError(
                "where",
                item,
                ["FIELD=VALUE", "FIELD!=VALUE", "FIELD>=VALUE (also < <= >)"],
                "or a dict {field: value}",
            )
        out.append(Condition(m.group(1), m.group(2), m.group(3)))
    return out


def check_fields(conditions: list[Condition], known: list[str]) -> None:
    """A filter on a field the index does not have is a mistake, not an empty answer."""
    for c in conditions:
        if c.field not in known:
            raise OptionError("where field", c.field, known or ["(this index has no fields)"])


def coerce(value: Any, numeric: bool) -> Any:
    """A string from the command line compared with a numeric field becomes a number."""
    if numeric and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise OptionError(
                    "where value", value, ["a number (this field is numeric)"]
                ) from None
    if not numeric and not isinstance(value, str) and value is not None:
        return str(value)
    return value


SQL_OPS = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
