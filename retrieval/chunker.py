"""Pack whole sentences into chunks that fit a token budget."""

from __future__ import annotations

from collections.abc import Callable

from retrieval.models import ChunkSpan
from retrieval.sentences import MAX_SENTENCE_CHARS, Sentence, split_sentences

TokenCounter = Callable[[str], int]


def whitespace_tokens(text: str) -> int:
    """Count whitespace-separated words: a stand-in when no tokenizer is loaded."""
    return len(text.split())


class Chunker:
    """Cut an article body into overlapping chunks of whole sentences."""

    def __init__(
        self,
        count_tokens: TokenCounter,
        max_tokens: int = 200,
        overlap: int = 1,
        max_sentence_chars: int = MAX_SENTENCE_CHARS,
        max_chunks: int = 500,
    ):
        if min(max_tokens, max_sentence_chars, max_chunks) < 1 or overlap < 0:
            raise ValueError("the limits must be >= 1 and overlap >= 0")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.max_sentence_chars = max_sentence_chars
        # Articles with more chunks are refused by the engine: not news, and slow to embed.
        self.max_chunks = max_chunks

    def chunk(self, body: str) -> list[ChunkSpan]:
        """Return chunks whose offsets index into body; each ends on a sentence end."""
        sentences = split_sentences(body, self.max_sentence_chars)
        sizes = [self.count_tokens(s.text) for s in sentences]
        spans: list[ChunkSpan] = []
        i = 0
        while i < len(sentences):
            j, total = i, 0
            # Always take at least one sentence, even one over the budget.
            while j < len(sentences) and (j == i or total + sizes[j] <= self.max_tokens):
                total += sizes[j]
                j += 1
            spans.append(self._span(body, sentences[i:j], len(spans)))
            if j >= len(sentences):
                break
            # Step back by the overlap, but always move forward.
            i = max(j - self.overlap, i + 1)
        return spans

    @staticmethod
    def _span(body: str, group: list[Sentence], order: int) -> ChunkSpan:
        start, end = group[0].start, group[-1].end
        return ChunkSpan(order=order, start=start, end=end, text=body[start:end])
