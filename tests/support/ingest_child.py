"""`isnad ingest` of one file in a child process, reporting its peak memory growth.

Usage: python ingest_child.py DATA_DIR FILE. The hashing embedder stands in for the
model. Prints one JSON object: the exit status, stderr's first line, and the growth
of peak RSS (ru_maxrss) in MB over the baseline taken just before the command.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys

import bot.cli as cli
from support.embedders import HashingEmbedder


def peak_mb() -> float:
    """Return this process's peak resident memory in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    os.environ["ISNAD_DATA_DIR"] = sys.argv[1]

    def hashing(settings: object) -> HashingEmbedder:
        return HashingEmbedder()

    cli.load_embedder = hashing  # type: ignore[assignment]
    err = io.StringIO()
    baseline = peak_mb()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["ingest", sys.argv[2]])
    growth = round(peak_mb() - baseline, 1)
    print(
        json.dumps(
            {"status": status, "stderr": err.getvalue().splitlines()[:1], "growth_mb": growth}
        )
    )
