"""Where a run config comes from: TOML files, the built-in presets and `--set KEY=VALUE` overrides."""

from __future__ import annotations

import difflib
import re
import stat
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from synthsign_tui.config.model import DICT_KEYS, RunConfig, known_keys, validate
from synthsign_tui.errors import ConfigError, shorten

PRESET_PACKAGE = "synthsign_tui.config.presets"


def list_presets() -> dict[str, str]:
    """Preset name -> its first comment line."""
    out = {}
    for entry in sorted(resources.files(PRESET_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            first = entry.read_text().splitlines()[0] if entry.read_text() else ""
            out[entry.name.removesuffix(".toml")] = first.lstrip("# ").strip()
    return out


def preset_dict(name: str) -> dict[str, Any]:
    presets = list_presets()
    if name not in presets:
        close = difflib.get_close_matches(name, presets, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown preset {shorten(name)}{hint} (presets: {', '.join(sorted(presets))})")
    text = resources.files(PRESET_PACKAGE).joinpath(name + ".toml").read_text()
    data = tomllib.loads(text)
    data["preset"] = name
    return data


MAX_DEPTH = 16  # tables and lists nested deeper than this are no run config
MAX_CONFIG_BYTES = 1_000_000  # a run config is a few KB; tomllib takes ~10 s to parse a 50 MB string
# tomllib takes quadratic time in the parts of one dotted key (16,000 parts: 7 s), so such keys are refused
# before parsing; the look-behind makes the scan linear
_DOTTED_KEY = re.compile(
    r"""(?<![\w"'-])(?:(?:[\w-]++|"[^"\n]*+"|'[^'\n]*+')[ \t]*+\.[ \t]*+)""" + f"{{{MAX_DEPTH + 1}}}"
)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML config file as a dict; every way it can be wrong (missing, a folder, binary, not UTF-8, bad TOML,
    absurdly nested) is a ConfigError saying so."""
    path = Path(path)
    name = shorten(str(path), 200)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"config file {name} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {name} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"config file {name} is a folder: give the path of a .toml file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {name} is not a regular file (a pipe or device?): give a .toml file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(_too_big(name, info.st_size))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {name} cannot be read: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise ConfigError(f"{name} holds NUL bytes, so it is a binary file, not a TOML config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name} is not UTF-8 text (byte {exc.start} is {raw[exc.start : exc.start + 1]!r}): a config is a "
            "TOML text file; save it as UTF-8"
        ) from None
    return parse_toml(text, name)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML text as a dict, or ConfigError (bad syntax, nested deeper than MAX_DEPTH)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_big(source, len(text)))
    if text.count(".") > MAX_DEPTH and _DOTTED_KEY.search(text):
        raise ConfigError(
            f"{source} has a dotted key of more than {MAX_DEPTH} parts: a run config needs a few"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {shorten(str(exc), 300)[1:-1]}") from None
    except RecursionError:
        raise ConfigError(
            f"{source} nests tables or lists too deeply (a config needs {MAX_DEPTH} levels at most)"
        ) from None
    check_depth(data, source)
    return data


def _too_big(source: str, size: int) -> str:
    return (
        f"{source} is {size:,} bytes; a run config is a few KB (at most {MAX_CONFIG_BYTES:,} are read): "
        "keep data out of the config and point to folders instead"
    )


def check_depth(data: Any, source: str) -> None:
    """Raise ConfigError when tables or lists nest deeper than MAX_DEPTH (checked without recursion)."""
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"{source} nests tables or lists {MAX_DEPTH + 1}+ levels deep: a run config needs a few levels"
            )
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def parse_override(text: str) -> tuple[str, Any]:
    """`data.images_per_class=20` -> ("data.images_per_class", 20). Values are TOML; bare words are strings."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {shorten(text)}: expected KEY=VALUE, e.g. --set data.images_per_class=20")
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_big(f"--set {shorten(key)}", len(raw)))
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ConfigError(f"--set {shorten(key)}: the value nests lists or tables too deeply") from None
    check_depth(value, f"--set {shorten(key)}")
    return key, value


def apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in a nested dict; unknown keys raise with the closest valid key."""
    candidates = known_keys(RunConfig)
    if key not in candidates and not key.startswith(DICT_KEYS):
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"--set {shorten(key)}: unknown key{hint}")
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {shorten(key)}: {shorten(part)} is not a section")
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
