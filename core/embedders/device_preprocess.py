"""Preparing model input on the accelerator: decode, resize, crop, normalise.

On the CPU, CLIP's own transform (Pillow resize, crop, to-tensor, normalise)
costs about as much per image as decoding it, and on a GPU machine the CPUs,
not the GPU, set the pace (clip-retrieval reports 2,500 images/s on an A100,
resize-bound). So where the model runs on a GPU, the CPU hands over either
the JPEG bytes, which the GPU decodes in a batch (torchvision's nvJPEG
`decode_jpeg`), or for other formats the decoded uint8 pixels in pinned
memory; the GPU resizes (antialiased, the same interpolation as the model's
transform), crops and normalises the whole batch.

The same code runs on the CPU (`device="cpu"`), which is how the tests check
it against CLIP's own transform on machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DevicePreprocess:
    """CLIP's 'shortest side, then centre crop' transform, on a torch device."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bicubic: bool
    device: str

    @classmethod
    def from_transform(cls, transform: Any, device: str) -> DevicePreprocess | None:
        """The same transform as open_clip's `transform` (a torchvision Compose),
        or None when it does something this one does not (then the CPU does it)."""
        from torchvision import transforms as T

        steps = list(getattr(transform, "transforms", []))
        kinds = [type(step).__name__ for step in steps]
        # Steps that only convert (to RGB, to a tensor) are done here by construction.
        core = [k for k in kinds if k not in ("MaybeConvertMode", "_convert_to_rgb")]
        if core not in (["Resize", "CenterCrop", "MaybeToTensor", "Normalize"],
                        ["Resize", "CenterCrop", "ToTensor", "Normalize"]):  # fmt: skip
            return None
        resize, crop = steps[kinds.index("Resize")], steps[kinds.index("CenterCrop")]
        normalize = steps[kinds.index("Normalize")]
        size = resize.size if isinstance(resize.size, int) else None
        if isinstance(resize.size, list | tuple) and len(resize.size) == 1:
            size = resize.size[0]
        crop_size = crop.size[0] if isinstance(crop.size, list | tuple) else crop.size
        if size is None or crop_size != size or resize.max_size is not None:
            return None
        mode = resize.interpolation
        if mode not in (T.InterpolationMode.BICUBIC, T.InterpolationMode.BILINEAR):
            return None
        return cls(
            size=int(size), mean=tuple(float(m) for m in normalize.mean),  # type: ignore[arg-type]
            std=tuple(float(s) for s in normalize.std),  # type: ignore[arg-type]
            bicubic=mode == T.InterpolationMode.BICUBIC, device=device,
        )  # fmt: skip

    def __call__(self, items: Sequence[np.ndarray | bytes]) -> Any:
        """A (n, 3, size, size) float tensor on the device from JPEG bytes or
        uint8 RGB arrays (height, width, 3), in order."""
        import torch

        pictures: list[Any] = [None] * len(items)
        jpegs = [i for i, item in enumerate(items) if isinstance(item, bytes | bytearray)]
        if jpegs:
            for i, decoded in zip(jpegs, self._decode_jpegs([items[i] for i in jpegs]),
                                  strict=True):  # fmt: skip
                pictures[i] = decoded
        for i, item in enumerate(items):
            if pictures[i] is None:
                writable = np.require(item, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])
                pixels = torch.from_numpy(writable).permute(2, 0, 1)
                if self.device.startswith("cuda"):
                    pixels = pixels.pin_memory()
                pictures[i] = pixels.to(self.device, non_blocking=True)
        batch = torch.stack([self._resize_and_crop(p) for p in pictures])
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return (batch.float() / 255.0 - mean) / std

    def _decode_jpegs(self, data: Sequence[bytes]) -> list[Any]:
        """Decoded on the device in one batch; a file the device's decoder refuses
        (CMYK, an odd subsampling) is decoded alone, and failing that by Pillow
        on the CPU (the pipeline's CPU pass has already decoded it, small, so it
        is known to be sound)."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        encoded = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in data]
        options = {"mode": ImageReadMode.RGB, "device": self.device,
                   "apply_exif_orientation": True}  # fmt: skip
        try:
            return list(decode_jpeg(encoded, **options))
        except RuntimeError:
            pass
        decoded = []
        for one, raw in zip(encoded, data, strict=True):
            try:
                decoded.append(decode_jpeg(one, **options))
            except RuntimeError:
                decoded.append(self._decode_on_cpu(raw))
        return decoded

    def _decode_on_cpu(self, data: bytes) -> Any:
        import io

        import torch
        from PIL import Image, ImageOps

        with Image.open(io.BytesIO(data)) as img:
            upright = ImageOps.exif_transpose(img) or img
            pixels = np.array(upright.convert("RGB"))
        return torch.from_numpy(pixels).permute(2, 0, 1).to(self.device)

    def _resize_and_crop(self, picture: Any) -> Any:
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as F

        mode = InterpolationMode.BICUBIC if self.bicubic else InterpolationMode.BILINEAR
        resized = F.resize(picture, [self.size], interpolation=mode, antialias=True)
        return F.center_crop(resized, [self.size, self.size])


def batch_size_for_memory(free_bytes: int, bytes_per_image: int, *, share: float = 0.6,
                          smallest: int = 16, largest: int = 1024) -> int:  # fmt: skip
    """The largest power of two of images whose activations fit in `share` of
    the free accelerator memory, between `smallest` and `largest`."""
    if bytes_per_image <= 0:
        return largest
    fits = int(free_bytes * share) // bytes_per_image
    size = smallest
    while size * 2 <= min(fits, largest):
        size *= 2
    return size
