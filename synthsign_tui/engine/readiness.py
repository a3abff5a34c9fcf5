"""What a config needs from this machine that it may not have: a GPU, a cached diffusion model, ImageNet weights.

These are notes, not errors: with internet the hub downloads what is missing, and diffusers also runs (slowly)
on the CPU. They let the welcome screen and `synthsign presets` say before a launch what a run will need,
instead of a run failing minutes in. Nothing here imports torch, so it is cheap enough for start-up (still,
the dashboard calls it from a worker: `nvidia-smi` and the cache lookups touch the disk).
"""

from __future__ import annotations

import os
from pathlib import Path

from synthsign_tui.config import RunConfig, resolve_path
from synthsign_tui.engine.device import gpu_names

RESNET18_IMAGENET_FILE = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1 file name


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(os.path.expanduser(os.environ.get("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() not in ("", "0", "false", "no", "off")


def diffusers_model_cached(model: str) -> bool:
    """A local pipeline folder, or a hub id whose model_index.json is in the Hugging Face cache."""
    folder = resolve_path(model)
    if folder.exists():
        return (folder / "model_index.json").is_file()
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model, "model_index.json"), str)
    except ValueError:  # not a valid repo id
        return False


def notes(config: RunConfig) -> list[str]:
    """What this machine lacks for `config`, each with how to fix it; empty when it can run as it is."""
    found: list[str] = []
    gen, train = config.generator, config.train
    if gen.kind == "diffusers":
        if (gen.device == "auto" or gen.device.startswith("cuda")) and not gpu_names():
            found.append("no NVIDIA GPU found (nvidia-smi): diffusion on the CPU takes minutes per image")
        if not diffusers_model_cached(gen.model):
            how = "and HF_HUB_OFFLINE is set" if hub_offline() else "(first use downloads it: needs internet)"
            found.append(
                f"{gen.model} is not in the Hugging Face cache {how}: `hf download` it elsewhere and copy "
                "the cache, or set generator.model to a local folder"
            )
    if (
        train.weights == "imagenet"
        and not (torch_hub_dir() / "checkpoints" / RESNET18_IMAGENET_FILE).is_file()
    ):
        found.append(
            'ImageNet ResNet18 weights are not cached: internet on first use, or train.weights = "none"'
        )
    return found
