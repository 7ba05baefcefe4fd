"""`where`: conditions on an index's fields, all of which a row must meet.

Accepted forms: a dict ({"lang": "en", "year": 2020}: equality), one string or a list of
strings ("lang=en", "year>=2020", "source!=wiki"). Operators: = == != < <= > >=.

How a value compares (the same on both stores): a value that reads as a number ("2020", "-1.5",
"1e3") compares as a number with every row whose field is a number or text that reads as one
(a corpus field from the command line is kept as text: "year": 2020 in a JSONL file is "2020"),
so year>=900 keeps 2020; a row whose field does not read as a number ("n/a", missing) meets no
numeric condition, != included. Any other value compares as text, and is refused on a numeric
field.

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
        for k, v in where.items():
            if isinstance(v, (list, dict, tuple, set)):
                raise OptionError(
                    f"where[{k!r}]", v, ["a string", "a number", "true or false", "null"]
                )
        return [Condition(str(k), "=", v) for k, v in where.items()]
    if not isinstance(where, (str, list, tuple)):
        raise OptionError(
            "where", where, ["FIELD=VALUE", "a list of them", "a dict {field: value}"]
        )
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


NUMBER = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"  # what reads as a number
_NUMBER = re.compile(NUMBER)


def number(value: Any) -> int | float | None:
    """A condition's value as a number, when it is one or reads as one.

    >>> number("2020"), number(" 1.5e3 "), number("n/a"), number(True)
    (2020, 1500.0, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def as_text(value: Any) -> str:
    """A value compared as text: true/false as JSON writes them (a bool field reads so).

    >>> as_text(True), as_text("en"), as_text(3)
    ('true', 'en', '3')
    """
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def coerce(value: Any, numeric: bool) -> Any:
    """A string from the command line compared with a numeric field becomes a number."""
    if numeric and isinstance(value, bool):
        raise OptionError("where value", value, ["a number (this field is numeric)"])
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
