"""Settings from the environment (prefix ISNAD_) and an optional .env file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrieval.postgres import is_postgres_url

MODEL_NAME = "embeddinggemma-300m"
_AS_OF = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?")


def zone_of(name: str) -> tzinfo:
    """Return the time zone of an IANA name such as Asia/Riyadh, or say it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use a name such as Asia/Riyadh") from exc


def parse_as_of(value: str, zone: tzinfo) -> datetime:
    """Read YYYY-MM-DD[THH:MM] as wall-clock time in zone (a date alone: its end)."""
    value = value.strip()
    try:
        if not _AS_OF.fullmatch(value):
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"as-of {value!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if len(value) == 10:
        # A day alone is asked at its end: "today" is then that whole day.
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment.replace(tzinfo=zone)


class Settings(BaseSettings):
    """Everything the bot and CLI can be told; built once in the CLI and passed down."""

    model_config = SettingsConfigDict(env_prefix="ISNAD_", env_file=".env", extra="ignore")

    # Storage and model
    data_dir: Path = Path("data")
    # postgresql://user:password@host/db puts every table there, for several replicas
    # (docs/replicas.md); empty: the SQLite file in data_dir.
    database_url: str = ""
    # Newest changes to the chunks kept for the replicas' indexes to follow; a replica
    # further behind rebuilds its index from the stored vectors (docs/replicas.md).
    change_log_rows: int = Field(100_000, ge=1000)
    model_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "isnad" / "models")
    mirror_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "isnad" / "mirror")
    # Embeddings kept by `isnad eval` so that a re-run does not embed again.
    embedding_cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "isnad" / "embeddings"
    )
    seeds_dir: Path = Path("seeds")
    # "torch": plain float32 sentence-transformers, the reference. "onnx-int8": ONNX Runtime
    # with the selectively int8-quantised export, cached beside the model (README, "Speed").
    embedding_backend: Literal["torch", "onnx-int8"] = "onnx-int8"
    embed_threads: int = 0  # 0: let torch / ONNX Runtime decide
    # Passages per forward pass; unset: each backend's measured best (README, "Speed").
    embed_batch_size: int | None = Field(None, ge=1, le=256)

    # Vector index: exact below the threshold, IVF from it on (README, "Speed")
    index_approx_threshold: int = Field(50_000, ge=1000)
    index_nprobe: int = Field(24, ge=1, le=4096)
    index_dims: Literal[768, 512, 256, 128] | None = None  # Matryoshka truncation

    # Ingest limits: a bigger file, a longer unpunctuated run, more chunks are refused or cut.
    max_article_bytes: int = Field(1_000_000, ge=1000)
    max_sentence_chars: int = Field(1000, ge=100)
    max_article_chunks: int = Field(500, ge=1)

    # Retrieval and answers
    chunk_tokens: int = Field(200, ge=16, le=2000)
    chunk_overlap: int = Field(1, ge=0, le=5)
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(100, ge=5, le=1000)
    # Defaults measured with `isnad eval` on the development sets (README, "Answer quality").
    fusion: Literal["blend", "rrf"] = "blend"
    rrf_k: float = Field(60.0, gt=0)
    dense_weight: float = Field(0.86, ge=0)
    lexical_weight: float = Field(0.14, ge=0)
    rerank_depth: int = Field(8, ge=0, le=50)  # 0: no sentence-level reranking
    sentence_weight: float = Field(0.6, ge=0, le=1)
    sentence_lexical_weight: float = Field(0.04, ge=0, le=1)
    # Best passage cosine below which the bot declines at once; above it, the fitted
    # answerability model decides (retrieval/data/answerability.json).
    answer_threshold: float = Field(0.1, ge=-1, le=1)
    # Weight of each candidate sentence's cosine to the question; 0 skips embedding them.
    answer_dense_weight: float = Field(3.0, ge=0)

    # Time words ("أمس", "الأسبوع الماضي") are read in this zone, as of this moment:
    # YYYY-MM-DD[THH:MM] wall-clock time there, empty for now (docs/time.md).
    time_zone: str = "Asia/Riyadh"
    as_of: str = ""

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_path: str = "telegram"
    webhook_secret: SecretStr | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    max_question_chars: int = Field(1000, ge=10)
    rate_limit_count: int = Field(5, ge=1)
    rate_limit_seconds: float = Field(30.0, gt=0)
    log_questions: bool = False

    # Feeds
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feed_poll_seconds: float = Field(300.0, gt=0)
    # A story alert is edited with the story's new outlets at most this often.
    story_update_seconds: float = Field(3600.0, ge=0)
    allow_private_urls: bool = False

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not is_postgres_url(value):
            raise ValueError(
                "must start with postgresql:// (or be empty for the SQLite file in ISNAD_DATA_DIR)"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @field_validator("as_of")
    @classmethod
    def _readable_as_of(cls, value: str) -> str:
        if value:
            parse_as_of(value, UTC)
        return value

    def moment(self, given: str = "") -> datetime:
        """Return the moment questions are asked at: given, else ISNAD_AS_OF, else now."""
        zone = zone_of(self.time_zone)
        value = given or self.as_of
        return parse_as_of(value, zone) if value else datetime.now(zone)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.replace(";", ",").split(",") if v.strip()]
        return value

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def model_path(self) -> Path:
        """Return the folder that holds the verified model files."""
        return self.model_dir / MODEL_NAME

    @property
    def onnx_path(self) -> Path:
        """Return the folder of the int8 ONNX export, beside the model (outside the checkout)."""
        return self.model_dir / f"{MODEL_NAME}-onnx-int8"

    @property
    def db_path(self) -> Path:
        """Return the SQLite file, the corpus's source of truth."""
        return self.data_dir / "isnad.db"

    @property
    def sentences_path(self) -> Path:
        """Return the cache of sentence vectors filled at ingest (rebuilt by embedding)."""
        return self.data_dir / "sentences.sqlite"

    @property
    def index_path(self) -> Path:
        """Return the FAISS file, rebuilt from the database when it disagrees."""
        return self.data_dir / "index.faiss"
