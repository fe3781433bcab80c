"""CLIP through open_clip: images and text in one space.

torch and open_clip are imported when a `ClipEmbedder` is built, never when
this module is imported, so the CLI and the app start without them.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from planche.core.embedders import weights as weights_module
from planche.core.embedders.base import ModelIdentity
from planche.core.embedders.device import (
    configure_cpu_threads,
    default_batch_size,
    resolve_device,
    resolve_precision,
)
from planche.core.embedders.device_preprocess import DevicePreprocess, batch_size_for_memory
from planche.core.errors import BadParameter, PlancheError
from planche.core.models import EMBEDDER_KINDS, ModelRow

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"

log = logging.getLogger(__name__)


def load(
    *,
    model: str | None,
    pretrained: str | None,
    weights: Path | None,
    device: str,
    precision: str,
    batch_size: int | None,
    reserve_a_core: bool,
) -> ClipEmbedder:
    """A CLIP model: ViT-B-32/openai unless told otherwise; a local checkpoint
    or a hub id has no default release tag."""
    if pretrained is None and not weights and not (model or "").startswith("hf-hub:"):
        pretrained = DEFAULT_PRETRAINED
    return ClipEmbedder(
        model or DEFAULT_MODEL, pretrained, weights, device=device, precision=precision,
        batch_size=batch_size, reserve_a_core=reserve_a_core,
    )  # fmt: skip


def load_for_model(model: ModelRow, *, weights: Path | None, device: str) -> ClipEmbedder:
    """The CLIP model that made `model`'s vectors, refused if its weights differ."""
    recorded = model.preprocessing.get("weights_path")
    source = weights or (Path(recorded) if recorded else None)
    if source is None and not model.pretrained:
        raise BadParameter("weights", None, f"the weights of {model.label} (give --weights PATH)")
    if source is not None and not source.exists():
        raise BadParameter(
            "weights", str(source),
            f"the weights of {model.label}, which are no longer there (give --weights PATH)",
        )  # fmt: skip
    from_folder = source is not None and source.is_dir()
    embedder = ClipEmbedder(
        DEFAULT_MODEL if from_folder else model.name,
        None if from_folder else model.pretrained,
        source,
        device=device,
        precision=model.precision,
    )
    if embedder.identity.weights_hash != model.weights_hash:
        raise BadParameter(
            "weights", str(source),
            f"the weights that made {model.label}; these have another content",
        )  # fmt: skip
    return embedder


class ClipEmbedder:
    source: Literal["file", "thumbnail"] = EMBEDDER_KINDS["clip"].reads

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        pretrained: str | None = DEFAULT_PRETRAINED,
        weights: Path | None = None,
        *,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int | None = None,
        reserve_a_core: bool = False,
        preprocess_on_device: bool | None = None,
    ) -> None:
        """`preprocess_on_device`: resize, crop and normalise on the model's
        device (default: on a GPU), the CPU only decoding (device_preprocess.py)."""
        if batch_size is not None and not 1 <= batch_size <= 4096:
            raise BadParameter("batch_size", batch_size, "a whole number from 1 to 4096")
        self.device = resolve_device(device)
        self.precision = resolve_precision(self.device, precision)
        resolved = weights_module.resolve(model, pretrained, weights)

        import open_clip
        import torch

        self._torch = torch
        if self.device == "cpu":
            configure_cpu_threads(reserve_one=reserve_a_core)
        tag = resolved.tag_config
        try:
            model_obj, _, preprocess = open_clip.create_model_and_transforms(
                resolved.model,
                pretrained=str(resolved.checkpoint) if resolved.checkpoint else None,
                device=self.device,
                force_quick_gelu=bool(tag.get("quick_gelu", False)),
                image_mean=tag.get("mean"),
                image_std=tag.get("std"),
                image_interpolation=tag.get("interpolation"),
                image_resize_mode=tag.get("resize_mode"),
                weights_only=True,
            )
        except pickle.UnpicklingError:
            raise PlancheError(
                f"cannot load CLIP weights from {resolved.checkpoint}: the file holds more than "
                "tensors (pickled objects), and planche does not run code from checkpoints; "
                "convert it to .safetensors"
            ) from None
        except Exception as exc:  # noqa: BLE001 - torch and open_clip raise many kinds
            where = resolved.checkpoint or resolved.model
            detail = (str(exc).splitlines() or [""])[0][:300] or "no detail"
            raise PlancheError(
                f"cannot load CLIP weights from {where}: not a checkpoint of "
                f"{resolved.display_name} ({type(exc).__name__}: {detail})"
            ) from None
        model_obj.eval()
        if self.precision == "bf16":
            model_obj = model_obj.to(torch.bfloat16)
        self._model = model_obj
        self._preprocess = preprocess
        on_device = self.device.startswith("cuda") if preprocess_on_device is None else (
            preprocess_on_device
        )  # fmt: skip
        self._device_preprocess = (
            DevicePreprocess.from_transform(preprocess, self.device) if on_device else None
        )
        self._tokenizer = open_clip.get_tokenizer(resolved.model)
        self._input_dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        image_size = getattr(model_obj.visual, "image_size", 224)
        self.input_size = int(max(image_size) if isinstance(image_size, tuple) else image_size)
        self.batch_size = batch_size or self._batch_size_for_device(model_obj)
        with torch.inference_mode():
            probe = model_obj.encode_text(self._tokenizer(["a photo"]).to(self.device))
        checkpoint = weights_module.checkpoint_file(resolved)
        self.identity = ModelIdentity(
            embedder="clip",
            name=resolved.display_name,
            pretrained=resolved.pretrained,
            # Released weights are named by their tag; local files by their content.
            weights_hash=(
                weights_module.file_sha256(checkpoint)[:16] if checkpoint and weights else None
            ),
            dim=int(probe.shape[-1]),
            precision=self.precision,
            preprocessing={
                "image_size": self.input_size,
                "transform": repr(preprocess),
                # Where to find the weights again, to embed text queries later.
                "weights_path": str(Path(weights).expanduser().absolute()) if weights else None,
            },
        )

    @property
    def decodes_jpeg(self) -> bool:
        """JPEG files reach the model as bytes, decoded on its device in a batch."""
        return self._device_preprocess is not None

    def prepare(self, image: Image.Image) -> Any:
        if self._device_preprocess is not None:
            return np.array(image.convert("RGB"))  # the device does the rest, a batch at once
        return self._preprocess(image)

    def embed_prepared(self, batch: Sequence[Any]) -> np.ndarray:
        if not batch:
            return np.zeros((0, self.identity.dim), dtype=np.float32)
        torch = self._torch
        if self._device_preprocess is not None:
            pixels = self._device_preprocess(list(batch))
        else:
            pixels = torch.stack(list(batch))
        chunks = []
        start = 0
        while start < len(batch):
            chunk = pixels[start : start + self.batch_size]
            try:
                chunks.append(self._encode_images(chunk))
            except torch.cuda.OutOfMemoryError:
                if self.batch_size == 1:
                    raise PlancheError("the GPU is out of memory even at batch size 1") from None
                self.batch_size = max(1, self.batch_size // 2)
                log.warning("GPU out of memory: batch size lowered to %d", self.batch_size)
                torch.cuda.empty_cache()
                continue
            start += len(chunk)
        return np.concatenate(chunks)

    def _batch_size_for_device(self, model: Any) -> int:
        """On a GPU, as many images as a probe says fit in the free memory."""
        if not self.device.startswith("cuda"):
            return default_batch_size(self.device)
        torch = self._torch
        probe = 16
        torch.cuda.reset_peak_memory_stats(self.device)
        start = torch.cuda.memory_allocated(self.device)
        size = self.input_size
        with torch.inference_mode(), self._autocast():
            model.encode_image(
                torch.zeros(probe, 3, size, size, device=self.device, dtype=self._input_dtype)
            )
        per_image = (torch.cuda.max_memory_allocated(self.device) - start) // probe
        free, _total = torch.cuda.mem_get_info(self.device)
        # The decoded pictures of a batch wait on the device too (full size JPEGs).
        return batch_size_for_memory(free, int(per_image) + 3 * 1024 * 1024)

    def _encode_images(self, pixels: Any) -> np.ndarray:
        torch = self._torch
        pixels = pixels.to(self.device, dtype=self._input_dtype, non_blocking=True)
        with torch.inference_mode(), self._autocast():
            features = self._model.encode_image(pixels)
        return self._normalised(features)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        if not texts or any(not t.strip() for t in texts):
            raise BadParameter("text", list(texts), "one or more non-empty phrases")
        torch = self._torch
        tokens = self._tokenizer(list(texts)).to(self.device)
        with torch.inference_mode(), self._autocast():
            features = self._model.encode_text(tokens)
        return self._normalised(features)

    def _autocast(self) -> Any:
        torch = self._torch
        if self.device.startswith("cuda") and self.precision == "fp16":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)

    def _normalised(self, features: Any) -> np.ndarray:
        torch = self._torch
        features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().numpy().astype(np.float32, copy=False)
