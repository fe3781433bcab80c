"""What a model is, and what each kind of embedder can do, declared once.

`ModelIdentity` is what makes two sets of vectors comparable (an embedder
reports it; the project stores it as a models row); `ModelRow` is the same
identity with the id the project gave it. `EMBEDDER_KINDS` declares, per kind
of embedder, whether it has a text tower, its default duplicate threshold and
what it reads; no other code compares a model's embedder name to a string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class EmbedderKind:
    name: str
    description: str
    has_text_tower: bool
    # Cosine at or above which two images count as duplicates by default.
    duplicate_threshold: float
    # "file": decoded from the original file at model resolution;
    # "thumbnail": the stored thumbnail is enough (and much cheaper).
    reads: Literal["file", "thumbnail"]
    # Where the loader lives, imported only when a model of this kind is
    # needed (so listing models never imports torch).
    loader: str


EMBEDDER_KINDS: dict[str, EmbedderKind] = {
    kind.name: kind
    for kind in (
        EmbedderKind(
            "clip", "meaning and text search (open_clip)", True, 0.95, "file",
            "planche.core.embedders.clip:load",
        ),
        EmbedderKind(
            "pixels", "weight-free, near-duplicates only, no text", False, 0.95, "thumbnail",
            "planche.core.embedders.pixels:load",
        ),
    )
}  # fmt: skip
DEFAULT_EMBEDDER = "clip"


def embedder_kind(name: str) -> EmbedderKind:
    from planche.core.errors import BadParameter

    if name not in EMBEDDER_KINDS:
        raise BadParameter("embedder", name, " or ".join(EMBEDDER_KINDS))
    return EMBEDDER_KINDS[name]


def model_label(embedder: str, name: str, pretrained: str | None, precision: str) -> str:
    """How the status line and every result name a model."""
    tag = f"/{pretrained}" if pretrained else ""
    return f"{embedder}:{name}{tag} ({precision})"


@dataclass(frozen=True)
class ModelIdentity:
    """What makes two sets of vectors comparable: stored as a models row."""

    embedder: str
    name: str
    pretrained: str | None
    weights_hash: str | None
    dim: int
    precision: str
    preprocessing: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return model_label(self.embedder, self.name, self.pretrained, self.precision)

    @property
    def kind(self) -> EmbedderKind:
        return embedder_kind(self.embedder)

    def key(self) -> list[Any]:
        """The columns that tell two models apart in the project."""
        return [self.embedder, self.name, self.pretrained, self.weights_hash, self.precision]


@dataclass(frozen=True)
class ModelRow(ModelIdentity):
    """A model as the project holds it: its identity and its id there."""

    id: int = field(kw_only=True)


def default_model(models: Sequence[ModelRow]) -> ModelRow | None:
    """What searches and clusters when nothing is asked: the newest model with
    a text tower (it can also search by text), else the newest one."""
    with_text = [m for m in models if m.kind.has_text_tower]
    chosen = with_text or list(models)
    return chosen[-1] if chosen else None
