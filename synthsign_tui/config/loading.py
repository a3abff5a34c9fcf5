"""Where a run config comes from: TOML files, the built-in presets and `--set KEY=VALUE` overrides."""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from synthsign_tui.config.model import DICT_KEYS, RunConfig, known_keys, validate
from synthsign_tui.errors import ConfigError

PRESET_PACKAGE = "synthsign_tui.config.presets"


def _preset_files() -> dict[str, Traversable]:
    """Preset name -> its packaged file, sorted by name; nothing is read."""
    entries = sorted(resources.files(PRESET_PACKAGE).iterdir(), key=lambda e: e.name)
    return {e.name.removesuffix(".toml"): e for e in entries if e.name.endswith(".toml")}


def list_presets() -> dict[str, str]:
    """Preset name -> its first comment line (each file read once)."""
    out = {}
    for name, entry in _preset_files().items():
        lines = entry.read_text().splitlines()
        out[name] = lines[0].lstrip("# ").strip() if lines else ""
    return out


def preset_dict(name: str) -> dict[str, Any]:
    presets = _preset_files()
    if name not in presets:
        close = difflib.get_close_matches(name, presets, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint} (presets: {', '.join(sorted(presets))})")
    data = tomllib.loads(presets[name].read_text())
    data["preset"] = name
    return data


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """`data.images_per_class=20` -> ("data.images_per_class", 20). Values are TOML; bare words are strings."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set data.images_per_class=20")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in a nested dict; unknown keys raise with the closest valid key."""
    candidates = known_keys(RunConfig)
    if key not in candidates and not key.startswith(DICT_KEYS):
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"--set {key}: unknown key{hint}")
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def load_config(
    path: Path | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
    name: str | None = None,
) -> RunConfig:
    """A config from a TOML file or a preset (default `road-signs-offline`), with `--set` overrides applied."""
    if path is not None and preset is not None:
        base = preset_dict(preset)
        deep_update(base, read_toml(path))
        data, source = base, str(path)
    elif path is not None:
        data, source = read_toml(path), str(path)
    else:
        preset = preset or "road-signs-offline"
        data, source = preset_dict(preset), f"preset {preset!r}"
    for item in overrides or []:
        apply_override(data, *parse_override(item))
    if name:
        data["name"] = name
    return validate(data, source)


def deep_update(base: dict[str, Any], new: dict[str, Any]) -> None:
    """Merge `new` into `base` in place, table by table (a TOML file on top of a preset)."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists of classes become data.classes[i].field."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, full + "."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                out.update(flatten(item, f"{full}[{i}]."))
        else:
            out[full] = value
    return out
