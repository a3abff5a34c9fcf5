"""The run config: one typed model (`model`), and where a config comes from (`loading`: TOML, presets, --set)."""

from synthsign_tui.config.loading import (
    apply_override,
    deep_update,
    flatten,
    list_presets,
    load_config,
    parse_override,
    parse_toml,
    preset_dict,
    read_toml,
)
from synthsign_tui.config.model import (
    DICT_KEYS,
    PROJECT_ROOT,
    ClassSpec,
    DataConfig,
    EvaluateConfig,
    GeneratorConfig,
    RunConfig,
    TrainConfig,
    field_errors,
    known_keys,
    resolve_path,
    validate,
)
from synthsign_tui.errors import ConfigError

__all__ = [
    "ConfigError",
    "DICT_KEYS", "PROJECT_ROOT", "ClassSpec", "DataConfig", "EvaluateConfig", "GeneratorConfig", "RunConfig",
    "TrainConfig", "apply_override", "deep_update", "field_errors", "flatten", "known_keys", "list_presets",
    "load_config", "parse_override", "parse_toml", "preset_dict", "read_toml", "resolve_path", "validate",
]  # fmt: skip
