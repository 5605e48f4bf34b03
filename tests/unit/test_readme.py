"""The README tells the truth about the defaults it names."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings
from retrieval.engine import SearchConfig

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_names_the_default_fusion() -> None:
    default = SearchConfig().fusion
    assert Settings(_env_file=None).fusion == default  # type: ignore[call-arg]
    flow = re.findall(r"-> fuse \((\w+)", README)
    assert flow and {f.lower() for f in flow} == {default}
    row = next(line for line in README.splitlines() if line.startswith("| `ISNAD_FUSION`"))
    assert row.split("|")[2].strip().startswith(f"`{default}`")
