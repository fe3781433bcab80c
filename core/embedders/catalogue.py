"""Which models planche knows and which of them can run on this machine now."""

from __future__ import annotations

from dataclasses import dataclass

from planche.core.embedders.clip import DEFAULT_MODEL, DEFAULT_PRETRAINED
from planche.core.embedders.pixels import LATEST_VERSION as PIXELS_VERSION
from planche.core.embedders.weights import cached_release


@dataclass(frozen=True)
class KnownModel:
    embedder: str
    model: str
    pretrained: str | None
    location: str | None  # where the weights are; None when they are not here
    note: str = ""

    @property
    def available(self) -> bool:
        return self.location is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "embedder": self.embedder,
            "model": self.model,
            "pretrained": self.pretrained,
            "available": self.available,
            "location": self.location,
            "note": self.note,
        }


def known_models(every_release: bool = False) -> list[KnownModel]:
    """The built-in pixels embedder, the default CLIP, and cached CLIP releases.

    With `every_release`, every (model, tag) pair open_clip has released,
    found locally or not.
    """
    import open_clip

    found = [
        KnownModel(
            "pixels", f"pixels-v{PIXELS_VERSION}", None, "built in", "near-duplicates, no text"
        )
    ]
    for model, tag in open_clip.list_pretrained():
        is_default = (model, tag) == (DEFAULT_MODEL, DEFAULT_PRETRAINED)
        path = cached_release(model, tag)
        if path is not None or is_default or every_release:
            note = "default" if is_default else ""
            found.append(KnownModel("clip", model, tag, str(path) if path else None, note))
    return found
