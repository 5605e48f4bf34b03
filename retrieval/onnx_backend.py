"""EmbeddingGemma as a selectively int8-quantised ONNX model: export once, verify, load.

Measured on this machine (issue 7): quantising every MatMul ('avx2' preset) drops
document cosine to 0.61 on long texts. The damage comes from MatMuls whose second
input is an activation (rotary, attention scores and mixing), which stay float32,
and from the MLP `down_proj` under one activation scale per tensor, which gets
8-bit weights with block-wise input scales instead; every other MatMul and the
embedding Gather become u8 x s8 per-channel with reduce_range (no VNNI here, so
7-bit weights are needed to avoid saturation).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.modelfetch import file_sha256

logger = logging.getLogger(__name__)

# Bump when the export recipe changes: an older export is then rebuilt.
RECIPE = "st-onnx+ort-dynamic-int8-u8s8-perchannel-rr-keep-act+downproj-nbits8-b32+slim/2"
ONNX_FILE = "onnx/model_qint8_selective.onnx"
STAMP_NAME = ".export.json"
MIN_COSINE = 0.99
_BLOCK = 1 << 20

# A fixed Arabic sample for the export check: short questions and long news passages,
# because quantisation error grows with length.
CHECK_QUERIES = (
    "بأي حجة تواصل روسيا التصعيد؟",
    "ماذا قال وزير الدفاع التركي خلوصي أكار؟",
    "كم اتصالاً جرى بين الجانبين التركي والروسي؟",
    "متى رفع البنك المركزي سعر الفائدة؟",
)
CHECK_PASSAGE = (
    "أعلن وزير الدفاع التركي خلوصي أكار أن بلاده أجرت اتصالات مكثفة مع الجانب الروسي"
    " خلال الأيام الماضية بهدف وقف التصعيد في شمال غرب سوريا، مؤكداً أن القوات التركية"
    " سترد على أي هجوم يستهدف نقاط المراقبة. وقال أكار في تصريحات للصحفيين إن موسكو"
    " تتذرع بمكافحة الإرهاب لتبرير القصف الذي طال المدنيين والمرافق الطبية، وإن أنقرة"
    " لن تسمح بموجة نزوح جديدة نحو حدودها. وأضاف أن الاتفاقات الموقعة بين البلدين"
    " يجب أن تحترم، وأن الحل السياسي يبقى الطريق الوحيد لإنهاء الأزمة. "
)
CHECK_DOCUMENTS = (
    "ارتفعت أسعار النفط اليوم بعد قرار تحالف أوبك بلس خفض الإنتاج.",
    CHECK_PASSAGE,
    CHECK_PASSAGE * 3,
    CHECK_PASSAGE * 8,
)

Export = Callable[[Path, Path], float]


class ExportError(Exception):
    """The ONNX export could not be built or did not verify; the message says what to do."""


def onnx_embedder_name(export_dir: Path) -> str:
    """Return the name stored with vectors made by this recipe's export in export_dir."""
    return f"embeddinggemma-300m-onnx-int8/{RECIPE.rsplit('/', 1)[-1]}:{export_dir.name}"


def _files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != STAMP_NAME
    )


def read_stamp(export_dir: Path) -> dict[str, Any]:
    """Return the stamp written by the last successful export, or {} if unreadable."""
    try:
        data = json.loads((export_dir / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def verify_export(export_dir: Path, source: str, *, full: bool = False) -> list[str]:
    """Check an export against its stamp: recipe, source model, cosine and every file's hash.

    A file whose size and mtime match the stamp is trusted unless full=True; any other
    change is re-hashed, so a rewritten or truncated file is caught.
    """
    stamp = read_stamp(export_dir)
    if not stamp:
        return [f"{export_dir}: no export stamp"]
    problems = []
    if stamp.get("recipe") != RECIPE:
        problems.append(f"recipe {stamp.get('recipe')!r}, expected {RECIPE!r}")
    if stamp.get("source") != source:
        problems.append(f"exported from {stamp.get('source')!r}, the model is {source!r}")
    if float(stamp.get("cosine", 0.0)) < MIN_COSINE:
        problems.append(f"cosine {stamp.get('cosine')} below {MIN_COSINE}")
    files: dict[str, list[Any]] = stamp.get("files", {})
    if ONNX_FILE not in files:
        problems.append(f"{ONNX_FILE}: not in the stamp")
    for rel in sorted(set(files) | set(_files(export_dir)) if export_dir.is_dir() else files):
        path = export_dir / rel
        if rel not in files:
            problems.append(f"{rel}: not in the stamp")
            continue
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        size, mtime_ns, want = files[rel]
        st = path.stat()
        if not full and st.st_size == size and st.st_mtime_ns == mtime_ns:
            continue
        got = file_sha256(path)
        if got != want:
            problems.append(f"{rel}: sha256 {got}, expected {want}")
    return problems


def _write_stamp(export_dir: Path, source: str, cosine: float) -> None:
    files = {}
    for rel in _files(export_dir):
        st = (export_dir / rel).stat()
        files[rel] = [st.st_size, st.st_mtime_ns, file_sha256(export_dir / rel)]
    stamp = {"recipe": RECIPE, "source": source, "cosine": round(cosine, 6), "files": files}
    (export_dir / STAMP_NAME).write_text(json.dumps(stamp, indent=1), encoding="utf-8")


def _swap_in(staged: Path, target: Path) -> None:
    """Move a verified staging dir into place; a previous (bad) export is removed."""
    staged.chmod(0o755)
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        aside.rmdir()
        os.replace(target, aside)
        shutil.rmtree(aside, ignore_errors=True)
    os.replace(staged, target)


def ensure_export(
    model_dir: Path,
    export_dir: Path,
    source: str,
    *,
    export: Export | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Return export_dir holding a verified export of model_dir, (re)building it if needed.

    source names the float32 model (its weights' hash), so a new model means a new export.
    export(model_dir, staging) builds the files and returns their mean cosine to float32.
    """
    say = progress or (lambda _line: None)
    problems = verify_export(export_dir, source)
    if not problems:
        return export_dir
    if export_dir.exists():
        logger.warning("ONNX export %s does not verify (%s): rebuilding", export_dir, problems[0])
    say("model: exporting the int8 ONNX model (once; needs up to ~10 GB of memory)")
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.tmp-", dir=export_dir.parent))
    try:
        cosine = (export or export_int8)(model_dir, staged)
        if not cosine >= MIN_COSINE:
            raise ExportError(
                f"the int8 ONNX export reaches a mean cosine of {cosine:.4f} to float32, below"
                f" {MIN_COSINE}: use ISNAD_EMBEDDING_BACKEND=torch"
            )
        _write_stamp(staged, source, cosine)
        _swap_in(staged, export_dir)
        say(f"model: int8 ONNX export ready in {export_dir} (cosine {cosine:.4f})")
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return export_dir


# -- the real recipe ------------------------------------------------------------


def activation_matmuls(model: Any) -> list[str]:
    """Name (naming them if needed) the MatMuls whose second input is an activation.

    Such a MatMul multiplies two activations (rotary angles, attention scores, attention
    mixing); its dynamic quantisation is what wrecked long-text vectors. Nodes without a
    name cannot be excluded from quantisation, so they are named here.
    """
    weights = {init.name for init in model.graph.initializer}
    consts = {out for node in model.graph.node if node.op_type == "Constant" for out in node.output}
    keep = []
    for n, node in enumerate(model.graph.node):
        if node.op_type != "MatMul":
            continue
        if not node.name:
            node.name = f"MatMul_{n}"
        if node.input[1] not in weights and node.input[1] not in consts:
            keep.append(node.name)
    return keep


def down_projections(model: Any) -> list[str]:
    """Name the MLP down_proj MatMuls."""
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and "down_proj" in n.name]


def quantize_selective(src: Path, dst: Path) -> list[str]:
    """Write an int8 copy of the ONNX model src to dst; return the MatMuls kept float32.

    Three steps, each measured on this machine (issue 7): (1) dynamic int8 for every
    weight MatMul but down_proj, and for the embedding table; (2) down_proj gets 8-bit
    weights in blocks of 32 with its input quantised per block too (MatMulNBits,
    accuracy level 4), which a per-tensor activation scale cannot do without losing the
    outliers of the MLP's output: vectors as close to float32 as when it stayed float
    (mean cosine .9965 on 200 questions, .9948 on 40 passages), one question 7% faster;
    (3) onnxslim folds the graph's repeated shape arithmetic (7,859 -> 3,886 nodes, the
    same outputs), one question 4% faster.
    """
    import onnx
    import onnxslim
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    graph = onnx.load(str(src), load_external_data=False)
    keep = activation_matmuls(graph)
    down = down_projections(graph)
    named = src.with_name(src.stem + ".named.onnx")
    dynamic = dst.with_name(dst.stem + ".dynamic.onnx")
    onnx.save(graph, str(named))  # same external data files, with every MatMul named
    del graph
    try:
        quantize_dynamic(
            named,
            dynamic,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            nodes_to_exclude=keep + down,
            extra_options={"MatMulConstBOnly": True},
        )
        model = onnx.load(str(dynamic))
        if down:
            blocks = DefaultWeightOnlyQuantConfig(
                block_size=32, is_symmetric=True, accuracy_level=4, bits=8
            )
            quantizer = MatMulNBitsQuantizer(
                model,
                bits=8,
                block_size=32,
                is_symmetric=True,
                accuracy_level=4,
                nodes_to_include=down,
                algo_config=blocks,
            )
            quantizer.process()
            model = quantizer.model.model
        onnx.save(onnxslim.slim(model), str(dst))
    finally:
        named.unlink(missing_ok=True)
        dynamic.unlink(missing_ok=True)
    return keep


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Return the mean row-wise cosine of two matrices of unit vectors."""
    return float(np.mean(np.sum(a * b, axis=1)))


def export_int8(model_dir: Path, staging: Path) -> float:
    """Export model_dir to ONNX, quantise it selectively into staging, and check it.

    Returns the mean cosine between float32 torch and int8 ONNX vectors on the fixed
    Arabic sample (documents and queries with their prompts).
    """
    from sentence_transformers import SentenceTransformer

    work = Path(tempfile.mkdtemp(prefix=".onnx-fp32-", dir=staging.parent))
    try:
        # sentence-transformers exports through optimum when no .onnx file exists yet.
        fp32 = SentenceTransformer(
            str(model_dir), backend="onnx", device="cpu", local_files_only=True
        )
        fp32.save(str(work))
        del fp32
        quantize_selective(work / "onnx" / "model.onnx", work / ONNX_FILE)
        for path in work.rglob("*"):
            rel = path.relative_to(work)
            if path.is_file() and rel.parts[0] != "onnx":
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, staging / rel)
        (staging / ONNX_FILE).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(work / ONNX_FILE, staging / ONNX_FILE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reference = SentenceTransformerEmbedder(model_dir)
    ref = _sample_vectors(reference)
    del reference
    got = _sample_vectors(OnnxEmbedder(staging))
    cosine = mean_cosine(ref, got)
    logger.info("int8 export: mean cosine %.4f, min %.4f", cosine, np.min(np.sum(ref * got, 1)))
    return cosine


def _sample_vectors(embedder: SentenceTransformerEmbedder) -> np.ndarray:
    docs = embedder.embed_documents(CHECK_DOCUMENTS)
    queries = np.stack([embedder.embed_query(q) for q in CHECK_QUERIES])
    return np.vstack([docs, queries])


class OnnxEmbedder(SentenceTransformerEmbedder):
    """EmbeddingGemma through ONNX Runtime with the selectively int8-quantised export.

    Same prompts, pooling, dense layers and batching as the torch path; only the
    transformer runs in ONNX Runtime.
    """

    # Measured on this machine (docs/speed.md): 72 ARCD paragraphs at 9.36 passages/s in
    # batches of 2, 8.71 alone, 6.38 in batches of 16. A batch also shares one activation
    # scale per tensor, so smaller batches are closer to float32 (mean cosine .9957 at 2,
    # .9951 at 16, on 48 paragraphs).
    BEST_BATCH = 2

    def __init__(
        self, export_dir: Path, *, batch_size: int | None = None, threads: int | None = None
    ) -> None:
        import threading

        import onnxruntime as ort
        from sentence_transformers import SentenceTransformer

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Worker threads spin between the graph's operators, which a short question's
        # hundreds of small ops need (measured: one question 31 -> 23 ms in ONNX Runtime),
        # and stop spinning when a run ends, so that they do not take the cores from the
        # event loop, FAISS and SQLite afterwards (measured: a matrix product right after
        # a run took 11.6 ms with spinning left on, 4.9 ms with it stopped or off).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self.model: Any = SentenceTransformer(
            str(export_dir),
            backend="onnx",
            device="cpu",
            local_files_only=True,
            model_kwargs={
                "file_name": ONNX_FILE,
                "provider": "CPUExecutionProvider",
                "session_options": options,
            },
            # The re-saved config names transformers 4.57.6, which makes transformers warn
            # about Mistral's tokenizer regex; this is Gemma's tokenizer, the same file as the
            # float model's, and the tests check both count the same tokens.
            processor_kwargs={"fix_mistral_regex": False},
        )
        # A different name from the torch model's and from older recipes', so a corpus
        # embedded by one is re-embedded.
        self.name = onnx_embedder_name(export_dir)
        dim_of = getattr(self.model, "get_embedding_dimension", None)
        self.dim = int(dim_of() if dim_of else self.model.get_sentence_embedding_dimension())
        self.batch_size = batch_size or self.BEST_BATCH
        self._tokenizer = copy.deepcopy(self.model.tokenizer)  # for counting, as above
        self._count_lock = threading.Lock()
        self._lock = threading.Lock()
        self._query_path = _QueryPath(self.model)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question with the model's query prompt, straight through ONNX Runtime."""
        with self._lock:
            return self._query_path(text)


class _QueryPath:
    """One question through the same steps as sentence-transformers, minus its overhead.

    The modules after the transformer are mean pooling over every token (the prompt
    included), two dense layers without bias or activation, and normalisation; two
    such linear maps are one 768 x 768 matrix. For a single short question the
    library's per-call work was 3-4 ms of ~28 (measured), which this path skips;
    tests check it gives the library's vectors.
    """

    def __init__(self, model: Any) -> None:
        modules = [type(m).__name__ for m in model]
        if modules != ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]:
            raise ExportError(f"unexpected model layout {modules}: run `isnad model fetch`")
        pooling = model[1].get_config_dict()
        if pooling.get("pooling_mode", "mean") != "mean" or not pooling.get("include_prompt", True):
            raise ExportError("the export's pooling is not mean over every token")
        for dense in (model[2], model[3]):
            activation = type(getattr(dense, "activation_function", None)).__name__
            if dense.linear.bias is not None or activation != "Identity":
                raise ExportError("the export's dense layers are not plain linear maps")
        first = model[2].linear.weight.detach().double()
        second = model[3].linear.weight.detach().double()
        self.project = (second @ first).T.float().numpy()  # (768, 768): pooled @ project
        self.prompt = model.prompts["query"]
        self.max_length = int(model.max_seq_length)
        self.tokenizer = model.tokenizer
        self.session = model[0].auto_model.session
        self.output = self.session.get_outputs()[0].name

    def __call__(self, text: str) -> np.ndarray:
        enc = self.tokenizer(
            self.prompt + text, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
        }
        hidden = self.session.run([self.output], feeds)[0][0]
        # einsum, not `@`: a BLAS product here wakes the BLAS threads, whose spinning then
        # slows the next question's run (measured: 26 ms a question with einsum, 38 with @).
        vec = np.einsum("i,ij->j", hidden.mean(axis=0), self.project)
        norm = float(np.sqrt(np.einsum("i,i->", vec, vec)))
        return (vec / max(norm, 1e-12)).astype(np.float32)
