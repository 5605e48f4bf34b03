"""retrieval/ is the engine alone: it never imports the Telegram edge or settings."""

import ast
from pathlib import Path

RETRIEVAL = Path(__file__).resolve().parents[2] / "retrieval"


def test_retrieval_imports_nothing_from_bot_or_telegram() -> None:
    offenders = []
    for path in RETRIEVAL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"bot", "telegram", "pydantic_settings"}:
                    offenders.append(f"{path.name}: {name}")
            if isinstance(node, ast.Attribute) and node.attr == "environ":
                offenders.append(f"{path.name}: os.environ")
    assert offenders == []
