"""The classifier: a torchvision ResNet18 with a head for the run's classes, and its checkpoints.

Checkpoints carry their class names, input transform and config, and load with
`torch.load(path, weights_only=True)`; `save_checkpoint` writes through a temporary name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthsign_tui.config import resolve_path
from synthsign_tui.errors import SynthSignError
from synthsign_tui.faults import fault_point
from synthsign_tui.files import atomic_path
from synthsign_tui.vocab import BACKGROUND_CLASS

CHECKPOINT_FORMAT = "synthsign-resnet18/1"
RESUME_KEYS = (
    "optimizer",
    "scheduler",
    "train_model",
    "ema_steps",
)  # in last.pt only: how training continues


def imagenet_weights_file() -> Path:
    from torchvision.models import ResNet18_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name


def _imagenet_state_dict() -> dict[str, torch.Tensor]:
    from torchvision.models import ResNet18_Weights

    url, path = ResNet18_Weights.IMAGENET1K_V1.url, imagenet_weights_file()
    if path.exists():
        return torch.load(path, weights_only=True)
    try:
        return ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as exc:  # offline: URLError, socket errors, SSL errors, a partial file
        raise SynthSignError(
            f'train.weights = "imagenet" needs the ResNet18 ImageNet weights, which could not be downloaded '
            f"({type(exc).__name__}: {exc}). Download {url} on a machine with internet and put it at {path} "
            f'(the torch hub cache; TORCH_HOME moves it), or train from scratch with train.weights = "none"'
        ) from None


def build_model(num_classes: int, weights: str, seed: int) -> nn.Module:
    """ResNet18 with a `num_classes` head. weights: imagenet, none, or a state dict file. Same seed, same model."""
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = resnet18(num_classes=1000)
        head = nn.Linear(model.fc.in_features, num_classes)
    if weights == "imagenet":
        model.load_state_dict(_imagenet_state_dict())
    elif weights != "none":
        path = resolve_path(weights)
        if not path.is_file():
            raise SynthSignError(
                f"train.weights = {weights!r}: no file {path}; use imagenet, none, or a ResNet18 state dict file"
            )
        state = torch.load(path, weights_only=True)
        state = state.get("model", state)  # a SynthSign checkpoint or a bare state dict
        body = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(body, strict=False)
        if unexpected or [k for k in missing if not k.startswith("fc.")]:
            raise SynthSignError(
                f"train.weights = {weights!r} is not a ResNet18 state dict "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        if state.get("fc.weight", torch.empty(0)).shape == head.weight.shape:
            head.load_state_dict({"weight": state["fc.weight"], "bias": state["fc.bias"]})
    model.fc = head
    return model


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temporary name, then rename: a crash never leaves a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
        fault_point("train.checkpoint-temp")


def load_checkpoint(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, meta: classes, image_size, mean, std, config, epoch, ...)."""
    from torchvision.models import resnet18

    path = Path(path)
    if not path.is_file():
        raise SynthSignError(f"no checkpoint {path}: train the run first (`synthsign resume RUN`)")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise SynthSignError(f"{path} is not a SynthSign checkpoint (format {payload.get('format')!r})")
    model = resnet18(num_classes=len(payload["classes"]))
    model.load_state_dict(payload["model"])
    meta = {k: v for k, v in payload.items() if k != "model" and k not in RESUME_KEYS}
    return model.eval(), meta


def run_classes(config: Any) -> list[str]:
    """The model's output classes: the config's, then the internal background class when it is generated."""
    return config.class_names + ([BACKGROUND_CLASS] if config.data.background_images > 0 else [])
