"""Finding CLIP weights on this machine, and failing fast when there are none.

planche resolves weights to a local file before open_clip sees them, so
open_clip never starts a download on its own: where the weights are not cached
and the hub cannot be reached, the user gets one message within seconds that
says how to provide them, instead of a stack of retries.

Sources, in the order they are tried:
- `--weights PATH`: a checkpoint file (.safetensors, or a PyTorch file loaded
  with weights_only=True: tensors, never arbitrary pickled code), or a folder
  holding open_clip_config.json and its weights (the layout of hub repositories);
- `--model NAME --pretrained TAG`: open_clip's table of released weights,
  looked up in the Hugging Face cache and in ~/.cache/clip;
- `--model hf-hub:ORG/REPO`: a hub repository, from the Hugging Face cache.
A download is attempted only when the hub answers within a few seconds, and
never when HF_HUB_OFFLINE or PLANCHE_OFFLINE is set.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from planche.core.embedders.base import WeightsUnavailable
from planche.core.errors import BadParameter

CONFIG_NAME = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights are, and what open_clip needs to build it."""

    model: str  # open_clip model name, or "local-dir:PATH"
    checkpoint: Path | None  # a file for open_clip's `pretrained`, None for local-dir
    pretrained: str | None  # the tag, when weights came from open_clip's table
    display_name: str
    tag_config: dict  # preprocessing and quick_gelu of a released tag


def resolve(model: str, pretrained: str | None, weights: Path | None) -> ResolvedWeights:
    """Locate weights locally (downloading only if the hub answers quickly)."""
    if weights is not None:
        return _local(model, Path(weights).expanduser(), pretrained)
    if model.startswith("hf-hub:"):
        return _hub_repo(model[len("hf-hub:") :])
    if not pretrained:
        raise BadParameter("pretrained", pretrained, "a tag such as openai, or give --weights")
    return _released(model, pretrained)


def _local(model: str, path: Path, tag: str | None = None) -> ResolvedWeights:
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise BadParameter(
                "weights", str(path), f"a checkpoint file, or a folder containing {CONFIG_NAME}"
            )
        if not any((path / name).is_file() for name in WEIGHT_NAMES):
            raise BadParameter(
                "weights", str(path), f"a folder with one of {', '.join(WEIGHT_NAMES)}"
            )
        return ResolvedWeights(f"local-dir:{path}", None, None, path.name, {})
    if not path.is_file():
        raise BadParameter("weights", str(path), "an existing checkpoint file or folder")
    _require_known_architecture(model)
    if tag is None:
        return ResolvedWeights(model, path, None, model, {})
    # A released checkpoint copied here by hand: its tag says how it was
    # trained (QuickGELU, normalisation), which the file alone does not.
    return ResolvedWeights(model, path, tag, model, _tag_config(model, tag))


def _tag_config(model: str, tag: str) -> dict:
    import open_clip

    config = open_clip.get_pretrained_cfg(model, tag)
    if not config:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise BadParameter("pretrained", tag, f"one of the tags released for {model}: {tags}")
    return config


def _require_known_architecture(model: str) -> None:
    import open_clip

    if model not in open_clip.list_models():
        raise BadParameter("model", model, "an open_clip model name (see `planche models --all`)")


def _released(model: str, tag: str) -> ResolvedWeights:
    import open_clip

    _require_known_architecture(model)
    config = _tag_config(model, tag)
    cached = cached_release(model, tag)
    if cached is None:
        source = config.get("hf_hub") or config.get("url", "")
        _require_hub(f"{model}/{tag}", source)
        cached = Path(open_clip.download_pretrained(config))
    return ResolvedWeights(model, cached, tag, model, config)


def _hub_repo(repo: str) -> ResolvedWeights:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss means "not cached"
        _require_hub(f"hf-hub:{repo}", repo)
        folder = Path(snapshot_download(repo, allow_patterns=[CONFIG_NAME, *WEIGHT_NAMES]))
    return _local(f"hf-hub:{repo}", folder)


# Where open_clip's release table puts the default model: asking open_clip itself
# imports it and torch (3 s), which the app's import offer would wait for just to
# look in two folders. tests/test_embedders.py checks it against open_clip's table.
KNOWN_RELEASES: dict[tuple[str, str], dict[str, str]] = {
    ("ViT-B-32", "openai"): {
        "hf_hub": "timm/vit_base_patch32_clip_224.openai/",
        "url": "https://openaipublic.azureedge.net/clip/models/"
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    },
}


def cached_release(model: str, tag: str) -> Path | None:
    """The local file of a released (model, tag), if any cache holds it."""
    config = KNOWN_RELEASES.get((model, tag))
    if config is None:
        import open_clip

        config = open_clip.get_pretrained_cfg(model, tag) or {}
    hub = config.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        # open_clip writes "org/repo/" for the default file, "org/repo/file" otherwise.
        repo, filename = os.path.split(hub)
        names = [filename] if filename else list(WEIGHT_NAMES)
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str):
                return Path(found)
    url = config.get("url", "")
    if url:
        candidate = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if candidate.is_file():
            return candidate
    return None


def _require_hub(what: str, source: str) -> None:
    host = urlparse(source).hostname if "://" in source else None
    if host is None:
        from huggingface_hub import constants

        host = urlparse(constants.ENDPOINT).hostname or ""
    offline = any(
        os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "PLANCHE_OFFLINE")
    )
    if offline or not _reachable(host):
        from huggingface_hub import constants

        raise WeightsUnavailable(
            f"weights for {what} are not on this machine and the model hub cannot be reached. "
            f"Either copy them here and pass --weights PATH (a .safetensors or .bin checkpoint, "
            f"or a folder with {CONFIG_NAME}), or put them in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) on a machine with internet access "
            f"(`planche models` shows what is found). Without CLIP: `--embedder pixels` "
            "finds near-duplicates but cannot search by text; `--embedder none` imports only."
        )


def _reachable(host: str, port: int = 443) -> bool:
    # getaddrinfo ignores socket timeouts and can hang on a broken resolver,
    # so the whole probe runs in a thread that is abandoned after the timeout.
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(_PROBE_TIMEOUT_S + 0.5)
    return bool(result and result[0])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_file(resolved: ResolvedWeights) -> Path | None:
    """The weights file whose hash identifies the model, if there is one."""
    if resolved.checkpoint is not None:
        return resolved.checkpoint
    folder = Path(resolved.model.removeprefix("local-dir:"))
    return next((folder / n for n in WEIGHT_NAMES if (folder / n).is_file()), None)
