"""Embedding backends: selection from settings, the int8 ONNX export, its check and rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from bot.factory import index_config, load_embedder
from bot.settings import Settings
from retrieval.index import IndexConfig
from retrieval.modelfetch import EXPECTED_SHA256, ModelError, verify_model_dir
from retrieval.onnx_backend import (
    ONNX_FILE,
    RECIPE,
    STAMP_NAME,
    ExportError,
    activation_matmuls,
    down_projections,
    ensure_export,
    mean_cosine,
    quantize_selective,
    verify_export,
)

MODEL_PATH = Path.home() / ".cache" / "isnad" / "models" / "embeddinggemma-300m"
SOURCE = "weights-sha"


# -- selection ----------------------------------------------------------------


def test_backend_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISNAD_EMBEDDING_BACKEND", "torch")
    assert Settings(_env_file=None).embedding_backend == "torch"  # type: ignore[call-arg]
    monkeypatch.setenv("ISNAD_EMBEDDING_BACKEND", "onnx-int8")
    assert Settings(_env_file=None).embedding_backend == "onnx-int8"  # type: ignore[call-arg]
    monkeypatch.setenv("ISNAD_EMBEDDING_BACKEND", "openvino")
    with pytest.raises(ValidationError, match="embedding_backend"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_default_backend_is_the_measured_one() -> None:
    assert Settings(_env_file=None).embedding_backend == "onnx-int8"  # type: ignore[call-arg]


def test_export_is_cached_beside_the_model(settings: Settings) -> None:
    assert settings.onnx_path == settings.model_dir / "embeddinggemma-300m-onnx-int8"


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_no_model_is_one_clear_error_for_every_backend(
    settings: Settings, tmp_path: Path, backend: str
) -> None:
    s = settings.model_copy(update={"model_dir": tmp_path / "none", "embedding_backend": backend})
    with pytest.raises(ModelError, match="run `isnad model fetch`"):
        load_embedder(s)
    assert not s.onnx_path.exists()  # nothing is exported without a verified model


def test_index_settings_reach_the_index_config(settings: Settings) -> None:
    s = settings.model_copy(
        update={"index_approx_threshold": 5000, "index_nprobe": 9, "index_dims": 256}
    )
    assert index_config(s) == IndexConfig(approx_threshold=5000, nprobe=9, dims=256)


# -- the quantisation recipe on a tiny stand-in graph -------------------------


def tiny_model(path: Path) -> None:
    """Write a float ONNX graph with a weight MatMul, an activation MatMul and a down_proj."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w_up = numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "w_up")
    w_down = numpy_helper.from_array(rng.standard_normal((32, 16)).astype(np.float32), "w_down")
    nodes = [
        helper.make_node("MatMul", ["x", "w_up"], ["h"], name="/layers.0/mlp/up_proj/MatMul"),
        helper.make_node("Transpose", ["h"], ["ht"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["h", "ht"], ["scores"], name="/layers.0/attn/MatMul"),
        helper.make_node("MatMul", ["scores", "h"], ["mixed"]),  # unnamed, activation
        helper.make_node(
            "MatMul", ["mixed", "w_down"], ["y"], name="/layers.0/mlp/down_proj/MatMul"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16])],
        [w_up, w_down],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_activation_matmuls_stay_float_and_down_proj_gets_blocks(tmp_path: Path) -> None:
    import onnx

    tiny_model(tmp_path / "f.onnx")
    kept = quantize_selective(tmp_path / "f.onnx", tmp_path / "q.onnx")
    assert kept == ["/layers.0/attn/MatMul", "MatMul_3"]
    ops = [n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node]
    assert ops.count("MatMulInteger") == 1  # up_proj only
    assert ops.count("MatMulNBits") == 1  # down_proj
    assert ops.count("MatMul") == 2
    graph = onnx.load(str(tmp_path / "f.onnx"))
    assert activation_matmuls(graph) == ["/layers.0/attn/MatMul", "MatMul_3"]
    assert down_projections(graph) == ["/layers.0/mlp/down_proj/MatMul"]
    x = np.random.default_rng(0).standard_normal((1, 4, 16)).astype(np.float32)
    ref, got = run(tmp_path / "f.onnx", x)[0], run(tmp_path / "q.onnx", x)[0]
    cos = np.sum(ref * got, 1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    assert cos.min() > 0.98


# -- export check and rebuild, with the tiny stand-in ---------------------------


class StandInExport:
    """Quantise the tiny graph into the staging dir; return its real cosine to float."""

    def __init__(self, tmp: Path, cosine: float | None = None):
        self.tmp = tmp
        self.calls = 0
        self.cosine = cosine

    def __call__(self, model_dir: Path, staging: Path) -> float:
        self.calls += 1
        tiny_model(self.tmp / "float.onnx")
        (staging / "onnx").mkdir()
        quantize_selective(self.tmp / "float.onnx", staging / ONNX_FILE)
        (staging / "config.json").write_text('{"model": "tiny"}', encoding="utf-8")
        x = np.random.default_rng(1).standard_normal((1, 4, 16)).astype(np.float32)
        ref, got = run(self.tmp / "float.onnx", x)[0], run(staging / ONNX_FILE, x)[0]
        unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
        return self.cosine if self.cosine is not None else mean_cosine(unit(ref), unit(got))


def test_export_is_built_once_then_trusted(tmp_path: Path) -> None:
    export = StandInExport(tmp_path)
    target = tmp_path / "models" / "m-onnx-int8"
    assert ensure_export(tmp_path / "m", target, SOURCE, export=export) == target
    assert ensure_export(tmp_path / "m", target, SOURCE, export=export) == target
    assert export.calls == 1
    stamp = json.loads((target / STAMP_NAME).read_text(encoding="utf-8"))
    assert stamp["recipe"] == RECIPE and stamp["source"] == SOURCE
    assert stamp["cosine"] >= 0.99
    assert sorted(stamp["files"]) == ["config.json", ONNX_FILE]
    assert verify_export(target, SOURCE, full=True) == []
    assert not list(target.parent.glob(".*tmp*"))  # no staging dir left behind


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "extra"])
def test_a_corrupted_export_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    export = StandInExport(tmp_path)
    target = tmp_path / "m-onnx-int8"
    ensure_export(tmp_path / "m", target, SOURCE, export=export)
    onnx_file = target / ONNX_FILE
    original = onnx_file.read_bytes()
    data = bytearray(original)
    if damage == "flip":  # same size: only the hash can tell
        data[len(data) // 2] ^= 0xFF
        onnx_file.write_bytes(bytes(data))
    elif damage == "truncate":
        onnx_file.write_bytes(bytes(data[:100]))
    elif damage == "delete":
        onnx_file.unlink()
    else:
        (target / "onnx" / "stray.onnx").write_bytes(b"x")
    problems = verify_export(target, SOURCE)
    expected = {
        "flip": f"{ONNX_FILE}: sha256",
        "truncate": f"{ONNX_FILE}: sha256",
        "delete": f"{ONNX_FILE}: missing",
        "extra": "onnx/stray.onnx: not in the stamp",
    }[damage]
    assert len(problems) == 1 and problems[0].startswith(expected)
    ensure_export(tmp_path / "m", target, SOURCE, export=export)
    assert export.calls == 2
    assert verify_export(target, SOURCE, full=True) == []
    assert onnx_file.read_bytes() == original  # the recipe is deterministic


def test_a_new_model_or_recipe_means_a_new_export(tmp_path: Path) -> None:
    export = StandInExport(tmp_path)
    target = tmp_path / "m-onnx-int8"
    ensure_export(tmp_path / "m", target, SOURCE, export=export)
    assert verify_export(target, "other-weights") == [
        f"exported from {SOURCE!r}, the model is 'other-weights'"
    ]
    ensure_export(tmp_path / "m", target, "other-weights", export=export)
    stamp = json.loads((target / STAMP_NAME).read_text(encoding="utf-8"))
    stamp["recipe"] = "old"
    (target / STAMP_NAME).write_text(json.dumps(stamp), encoding="utf-8")
    assert verify_export(target, "other-weights")[0] == f"recipe 'old', expected {RECIPE!r}"
    ensure_export(tmp_path / "m", target, "other-weights", export=export)
    assert export.calls == 3


def test_an_export_below_the_cosine_guard_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "m-onnx-int8"
    with pytest.raises(ExportError, match=r"cosine of 0\.9500 to float32, below 0\.99"):
        ensure_export(tmp_path / "m", target, SOURCE, export=StandInExport(tmp_path, 0.95))
    assert not target.exists()
    assert list(tmp_path.glob(".m-onnx-int8*")) == []


# -- the real export, only when it is already cached ----------------------------


def _real_export_ready() -> bool:
    if verify_model_dir(MODEL_PATH):
        return False
    source = EXPECTED_SHA256["model.safetensors"]
    return verify_export(MODEL_PATH.with_name(MODEL_PATH.name + "-onnx-int8"), source) == []


@pytest.mark.model
@pytest.mark.skipif(not _real_export_ready(), reason="needs the cached model and its int8 export")
def test_real_onnx_backend_matches_float32(settings: Settings) -> None:
    from retrieval.embedding import SentenceTransformerEmbedder
    from retrieval.onnx_backend import OnnxEmbedder

    s = settings.model_copy(
        update={"model_dir": MODEL_PATH.parent, "embedding_backend": "onnx-int8"}
    )
    onnx_embedder = load_embedder(s)
    assert isinstance(onnx_embedder, OnnxEmbedder)
    torch_embedder = load_embedder(s, "torch")
    assert type(torch_embedder) is SentenceTransformerEmbedder
    assert onnx_embedder.name != torch_embedder.name  # a switch makes the store re-embed
    assert onnx_embedder.dim == torch_embedder.dim == 768
    # Unset, each backend takes its measured best batch; a setting overrides it.
    assert (onnx_embedder.batch_size, torch_embedder.batch_size) == (2, 4)
    set_to_7 = load_embedder(s.model_copy(update={"embed_batch_size": 7}), "torch")
    assert isinstance(set_to_7, SentenceTransformerEmbedder) and set_to_7.batch_size == 7
    question = "ماذا قال وزير الدفاع التركي خلوصي أكار؟"
    passages = ["قال وزير الدفاع التركي إن بلاده لن تسمح بموجة نزوح جديدة.", question * 12]
    assert onnx_embedder.count_tokens(passages[1]) == torch_embedder.count_tokens(passages[1])
    q = float(onnx_embedder.embed_query(question) @ torch_embedder.embed_query(question))
    docs = onnx_embedder.embed_documents(passages) * torch_embedder.embed_documents(passages)
    assert q >= 0.99
    assert docs.sum(axis=1).min() >= 0.99
    # The direct question path gives the library's own pipeline's vector through the export.
    assert onnx_embedder.count_tokens(question * 200) > 2048  # cut at the model's limit
    for text in (question, "من؟", question * 40, question * 200):
        library = SentenceTransformerEmbedder.embed_query(onnx_embedder, text)
        direct = onnx_embedder.embed_query(text)
        assert direct.dtype == np.float32 and direct.shape == (768,)
        assert float(direct @ library) >= 0.99999
