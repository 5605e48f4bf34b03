"""The layers: retrieval/ is the engine alone; news/ and admin/ send only where they must;
the tools are never loaded by the product; every module imports on its own."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RETRIEVAL = ROOT / "retrieval"
BOT = ROOT / "bot"
# The only modules of bot/news and bot/admin that talk to Telegram: they send alerts.
SENDERS = {"news/sender.py"}


def imports(path: Path) -> list[str]:
    """Return every module a file imports, at any depth."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_retrieval_imports_nothing_from_bot_or_telegram() -> None:
    offenders = []
    for path in RETRIEVAL.rglob("*.py"):
        for name in imports(path):
            if name.split(".")[0] in {"bot", "telegram", "pydantic_settings"}:
                offenders.append(f"{path.name}: {name}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "environ":
                offenders.append(f"{path.name}: os.environ")
    assert offenders == []


def test_news_and_admin_import_telegram_only_to_send() -> None:
    found = {
        path.relative_to(BOT).as_posix()
        for folder in ("news", "admin")
        for path in (BOT / folder).glob("*.py")
        if any(name.split(".")[0] == "telegram" for name in imports(path))
    }
    assert found == SENDERS


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_cli_start_loads_no_tool_and_no_dev_dependency() -> None:
    code = (
        "import sys, bot.cli\n"
        "bot.cli.parser().parse_args(['stats'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('bot.tools', 'aiohttp', 'torch'))))"
    )
    assert run_python(code) == "[]"


def test_every_module_imports_on_its_own() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in [*BOT.rglob("*.py"), *RETRIEVAL.rglob("*.py")]
        if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('bot', 'retrieval')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print('ok')"
    )
    assert run_python(code) == "ok"


def test_bot_asks_the_engine_and_keeps_to_its_own_tables() -> None:
    corpus = re.compile(r"\b(FROM|INTO|UPDATE|JOIN)\s+(articles|chunks|chunks_fts|meta)\b", re.I)
    offenders = []
    for path in BOT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and node.attr == "db":
                inner = node.value
                if isinstance(inner, ast.Attribute) and inner.attr == "store":
                    offenders.append(f"{path.relative_to(BOT)}:{node.lineno}: store.db")
        offenders += [f"{path.relative_to(BOT)}: {m.group(0)}" for m in corpus.finditer(text)]
    assert offenders == []


def test_the_bot_tables_are_migrated_in_one_place() -> None:
    callers = {
        path.relative_to(BOT).as_posix()
        for path in BOT.rglob("*.py")
        if re.search(r"\bawait migrate(_bot|_bot_tables)?\(", path.read_text(encoding="utf-8"))
    }
    assert callers == {"database.py"}


# The modules that hold the bot's SQL, each one concern, and the repository that opens them.
TABLE_MODULES = {
    "database.py",
    "admin/audit.py",
    "admin/questionlog.py",
    "conversation/threads.py",
    "news/feedstore.py",
    "news/outbox.py",
    "news/schema.py",
    "news/subscriptions.py",
}


def test_the_bot_reaches_its_tables_through_the_repository() -> None:
    offenders = []
    for path in BOT.rglob("*.py"):
        name = path.relative_to(BOT).as_posix()
        if name in TABLE_MODULES:
            continue
        offenders += [f"{name}: imports {m}" for m in imports(path) if m == "aiosqlite"]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "conn":
                offenders.append(f"{name}:{node.lineno}: .conn")
    assert offenders == []
