"""The run config: presets, TOML, --set overrides, and errors that say what was wrong and how to fix it."""

import tomllib

import pytest

from synthsign_tui.config import (
    RunConfig,
    field_errors,
    list_presets,
    load_config,
    parse_override,
    preset_dict,
    validate,
)
from synthsign_tui.errors import ConfigError


def test_presets_load_and_validate():
    presets = list_presets()
    assert {"road-signs-offline", "road-signs-quick", "road-signs-zimage"} <= set(presets)
    for name in presets:
        cfg = load_config(preset=name)
        assert cfg.preset == name
        assert len(cfg.class_names) >= 2


def test_zimage_preset_keeps_the_notebook_settings():
    cfg = load_config(preset="road-signs-zimage")
    g = cfg.generator
    assert (g.kind, g.model, g.steps, g.guidance_scale, g.height, g.width) == (
        "diffusers", "Tongyi-MAI/Z-Image-Turbo", 8, 0.0, 1024, 1024,
    )  # fmt: skip
    assert (cfg.train.image_size, cfg.train.batch_size, cfg.train.epochs, cfg.train.optimizer) == (
        224,
        32,
        8,
        "adam",
    )
    assert cfg.data.images_per_class == 50


def test_toml_round_trip_is_exact(tmp_path):
    cfg = load_config(preset="road-signs-zimage", overrides=["train.extra_sources.extra=0.5"])
    text = cfg.to_toml()
    again = validate(tomllib.loads(text))
    assert again == cfg
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert load_config(path) == cfg


def test_overrides_use_dotted_keys_and_toml_values():
    cfg = load_config(
        overrides=["data.images_per_class=20", "train.lr=0.01", "generator.kind=procedural", "name=x y"]
    )
    assert cfg.data.images_per_class == 20 and cfg.train.lr == 0.01 and cfg.name == "x y"
    assert parse_override("data.variations.weather=['rain', 'fog']") == (
        "data.variations.weather",
        ["rain", "fog"],
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.images_per_clas=5", "did you mean 'data.images_per_class'"),
        ("trian.epochs=3", "did you mean 'train.epochs'"),
    ],
)
def test_unknown_override_key_names_the_closest(override, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(overrides=[override])


def _with(**sections):
    data = preset_dict("road-signs-offline")
    for dotted, value in sections.items():
        node = data
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"data__images_per_class": 0}, "data.images_per_class", "greater than or equal to 1"),
        ({"data__val_fraction": 1.5}, "data.val_fraction", "less than 1"),
        ({"generator__steps": 0}, "generator.steps", "greater than or equal to 1"),
        ({"train__epochs": "many"}, "train.epochs", "valid integer"),
        ({"generator__kind": "gan"}, "generator.kind", "'procedural' or 'diffusers'"),
    ],
)
def test_impossible_values_name_key_value_and_rule(change, key, words):
    with pytest.raises(ConfigError) as err:
        validate(_with(**change), "my.toml")
    text = str(err.value)
    assert "my.toml" in text and key in text and words in text
    value = list(change.values())[0]
    assert str(value) in text


def test_class_names_must_be_folder_names_and_unique():
    data = _with()
    data["data"]["classes"][0]["name"] = "stop/sign"
    with pytest.raises(
        ConfigError, match=r"data.classes\[0\].name: class name 'stop/sign' cannot be a folder name"
    ):
        validate(data)
    data = _with()
    data["data"]["classes"][1]["name"] = "stop"
    with pytest.raises(ConfigError, match=r"duplicate class name\(s\) \['stop'\]"):
        validate(data)


def test_unknown_key_in_toml_suggests_the_closest(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('name = "t"\n[data]\nimages_per_clss = 3\n[[data.classes]]\nname="a"\ndraw=["stop"]\n'
                    '[[data.classes]]\nname="b"\ndraw=["none"]\n')  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"data.images_per_clss: unknown key; did you mean 'data.images_per_class'"
    ):
        load_config(path)


def test_procedural_designs_are_checked():
    data = _with()
    data["data"]["classes"][0]["draw"] = ["octagon-ish"]
    with pytest.raises(ConfigError, match="unknown design"):
        validate(data)


def test_field_errors_map_to_form_fields():
    errors = field_errors(_with(data__images_per_class=0, train__lr=-1))
    assert set(errors) == {"data.images_per_class", "train.lr"}
    assert "greater than" in errors["train.lr"]
    assert field_errors(_with()) == {}


def test_unknown_preset_and_missing_file():
    with pytest.raises(ConfigError, match="did you mean 'road-signs-offline'"):
        load_config(preset="road-signs-ofline")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(RunConfig.__name__ + ".toml")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["real", "synthetic-val"])
def test_extra_real_cannot_take_the_runs_own_evaluation_names(name):
    with pytest.raises(ConfigError, match="own evaluations"):
        load_config(overrides=[f"evaluate.extra_real.{name}=photos"])
