"""Short labels for clusters: zero-shot classification with the model's text tower.

Each cluster's mean vector is compared with the text embeddings of the 1,000
ImageNet class names that open_clip ships ("a photo of a {name}."), and the
nearest name is the label. The class-name embeddings are computed once per
model and cached beside the project. Models without a text tower (pixels)
give no labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.index import cache_dir
from planche.core.models import ModelRow

PROMPT = "a photo of a {}."


def vocabulary() -> tuple[str, ...]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return tuple(IMAGENET_CLASSNAMES)


def zero_shot_labels(
    project: Path, model: ModelRow, centroids: np.ndarray, text_embedder: Callable[[], Any]
) -> list[str]:
    """The nearest vocabulary word for each (not necessarily normalised) centroid."""
    words = vocabulary()
    embedded = _vocabulary_vectors(project, model, words, text_embedder)
    centroids = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return [words[i] for i in (centroids @ embedded.T).argmax(axis=1)]


def _vocabulary_vectors(
    project: Path, model: ModelRow, words: tuple[str, ...], text_embedder: Callable[[], Any]
) -> np.ndarray:
    path = cache_dir(project) / f"labels-model{model.id}.npy"
    if path.exists():
        try:
            cached = np.load(path)
            if cached.shape == (len(words), model.dim):
                return cached
        except (OSError, ValueError):
            pass  # unreadable cache: computed again below
    embedder = text_embedder()
    vectors = np.concatenate(
        [
            embedder.embed_text([PROMPT.format(w) for w in words[start : start + 250]])
            for start in range(0, len(words), 250)
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors
