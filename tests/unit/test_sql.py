"""SQL in bot/ binds every value with `?`: only column lists and `?` marks are formatted in."""

from __future__ import annotations

import ast
import re
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b")
# Names that hold SQL text fixed in the source: a column list, or a run of "?" marks.
FIXED_PARTS = {"_COLUMNS", "marks"}


def formatted_sql(path: Path) -> list[str]:
    """Return what is formatted into SQL strings of a module, other than fixed parts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.JoinedStr):
            continue
        literal = "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
        if not SQL.search(literal):
            continue
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                expr = value.value
                if not (isinstance(expr, ast.Name) and expr.id in FIXED_PARTS):
                    found.append(f"{path.relative_to(BOT)}:{node.lineno}: {ast.unparse(expr)}")
    return found


def test_no_value_or_operator_is_formatted_into_sql() -> None:
    offenders = [hit for path in sorted(BOT.rglob("*.py")) for hit in formatted_sql(path)]
    assert offenders == []
