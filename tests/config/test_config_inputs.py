"""Every config input checked before a run is recorded, with short messages; the TOML and --set loaders
fuzzed: any input gives a RunConfig or a ConfigError, never another exception or a hang."""

from __future__ import annotations

import os
import time

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthsign_tui.config import field_errors, known_keys, load_config, preset_dict, read_toml, validate
from synthsign_tui.config.model import RunConfig
from synthsign_tui.errors import ConfigError


def errors_of(**sections) -> dict[str, str]:
    data = preset_dict("road-signs-offline")
    for dotted, value in sections.items():
        *path, leaf = dotted.split("__")
        node = data
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return field_errors(data)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{prompt:d}", "{prompt:d} has a format spec or conversion: write plain {prompt}"),
        ("{prompt!r}", "{prompt!r} has a format spec or conversion"),
        ("{prompt.upper}", "{prompt.upper} is not a name"),
        ("{0}", "{0} is not a name"),
        ("{}", "{} is not a name"),
        ("{prompt", "cannot be read: expected '}' before end of string"),
    ],
)
def test_templates_take_plain_fields_only(template, message):
    assert message in errors_of(data__template=template)["data.template"]


def test_unknown_template_field_and_axis_names():
    assert "template uses ['weather']" in errors_of(data__template="{prompt} {weather}")["data"]
    errors = errors_of(data__variations={"prompt": ["a"]}, data__template="{prompt}")
    assert "cannot be named 'prompt'" in errors["data.variations"]
    errors = errors_of(data__variations={"time of day": ["noon"]})
    assert "'time of day' is not a name usable as {axis}" in errors["data.variations"]
    assert (
        errors_of(data__variations={"time_of_day": ["noon"]}, data__template="{prompt} at {time_of_day}")
        == {}
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\x00b", "without path separators or control characters"),
        ("a/b", "cannot be a folder name"),
        ("..", "cannot be a folder name"),
        ("é" * 128, "is longer than 255 bytes"),  # 128 characters, 256 bytes
    ],
)
def test_class_names_must_be_folder_names(name, message):
    classes = [{"name": name, "draw": ["stop"]}, {"name": "other", "draw": ["stop"]}]
    assert message in errors_of(data__classes=classes)["data.classes.0.name"]


def test_class_name_of_255_bytes_is_fine():
    classes = [{"name": "é" * 127 + "a", "draw": ["stop"]}, {"name": "other", "draw": ["stop"]}]
    assert errors_of(data__classes=classes) == {}


def test_weights_model_and_device_are_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pt").write_bytes(b"x")
    (tmp_path / "pipe").mkdir()
    assert (
        "'missing.pt' is not imagenet, none, or an existing file"
        in errors_of(train__weights="missing.pt")["train.weights"]
    )
    assert errors_of(train__weights="w.pt") == {}
    diffusers = {"generator__kind": "diffusers"}
    classes = [{"name": "a", "prompts": ["a"]}, {"name": "b", "prompts": ["b"]}]
    missing = errors_of(**diffusers, data__classes=classes, generator__model="./models/none")
    assert "diffusers model folder './models/none' does not exist" in missing["generator.model"]
    not_saved = errors_of(**diffusers, data__classes=classes, generator__model="pipe")
    assert "has no model_index.json" in not_saved["generator.model"]
    (tmp_path / "pipe" / "model_index.json").write_text("{}")
    assert errors_of(**diffusers, data__classes=classes, generator__model="pipe") == {}
    assert errors_of(**diffusers, data__classes=classes, generator__model="Tongyi-MAI/Z-Image-Turbo") == {}
    assert (
        "neither an existing folder nor a hub id"
        in errors_of(**diffusers, data__classes=classes, generator__model="bad id!")["generator.model"]
    )
    # the procedural generator loads no model: its default hub id is never looked at
    assert errors_of(generator__model="./models/none") == {}
    for device in ("tpu", "cuda:x", "cuda:", "CPU"):
        assert (
            "is not one of auto, cpu, cuda or cuda:N"
            in errors_of(generator__device=device)["generator.device"]
        )
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        assert errors_of(generator__device=device) == {}


def test_booleans_are_not_numbers_but_form_strings_are():
    assert (
        errors_of(train__epochs=True)["train.epochs"] == "expected a number, not the boolean true (got true)"
    )
    assert "boolean false" in errors_of(train__lr=False)["train.lr"]
    assert "boolean" in errors_of(train__extra_sources={"x": True})["train.extra_sources.x"]
    assert errors_of(train__epochs="3", train__lr="0.01") == {}  # what the form's inputs hold
    for fraction in (float("nan"), float("inf"), -0.5):
        assert "train.extra_sources.x" in errors_of(train__extra_sources={"x": fraction})


def test_a_huge_value_is_cut_in_the_message_and_fast():
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["name=" + "a" * 900_000])
    message = str(info.value)
    assert len(message) < 500 and "(900,000 characters)" in message
    with pytest.raises(ConfigError, match="a run config is a few KB"):
        load_config(overrides=["name=" + "a" * 50_000_000])
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02binary", "holds NUL bytes"),
        ('name = "caf\xe9"\n'.encode("latin-1"), "is not UTF-8 text (byte 11"),
        (b"name = " + b"[" * 2000 + b"]" * 2000, "nests tables or lists too deeply"),
        (("a" + ".a" * 100_000 + " = 1\n").encode(), "has a dotted key of more than 16 parts"),
        (b"[" + b".".join([b"t"] * 40) + b"]\nx = 1\n", "has a dotted key of more than 16 parts"),
        (b"x = " + b"{a = " * 40 + b"1" + b"}" * 40, "nests tables or lists"),
        (b"name = ", "is not valid TOML"),
        (b'name = "' + b"a" * 1_000_000 + b'"', "bytes; a run config is a few KB"),
    ],
    ids=[
        "binary",
        "latin-1",
        "deep-lists",
        "long-dotted-key",
        "long-table-header",
        "deep-tables",
        "syntax",
        "huge",
    ],  # fmt: skip
)
def test_bad_config_files_give_clean_errors_quickly(tmp_path, content, message):
    (tmp_path / "c.toml").write_bytes(content)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        read_toml(tmp_path / "c.toml")
    assert message in str(info.value)
    assert time.perf_counter() - started < 2


def test_config_paths_that_are_not_files(tmp_path):
    (tmp_path / "folder.toml").mkdir()
    os.mkfifo(tmp_path / "pipe.toml")
    with pytest.raises(ConfigError, match="is a folder: give the path of a .toml file"):
        read_toml(tmp_path / "folder.toml")
    with pytest.raises(ConfigError, match="is not a regular file"):
        read_toml(tmp_path / "pipe.toml")  # would block forever if opened


# ------------------------------------------------------------------ property-based

FUZZ = settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = known_keys(RunConfig)
scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=40)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _valid_or_clean(load) -> None:
    try:
        config = load()
    except ConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(config, RunConfig)
        validate(config.to_dict())  # what was accepted is accepted again (a run's saved config)


@FUZZ
@given(data=st.binary(max_size=1024))
def test_random_bytes_as_a_config_file(tmp_path, data):
    (tmp_path / "c.toml").write_bytes(data)
    _valid_or_clean(lambda: load_config(tmp_path / "c.toml"))


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text_as_a_config_file(tmp_path, text):
    (tmp_path / "c.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    _valid_or_clean(lambda: load_config(tmp_path / "c.toml", preset="road-signs-offline"))


@FUZZ
@given(entries=st.dictionaries(st.sampled_from(KEYS), values, max_size=5))
def test_known_keys_with_random_values(tmp_path, entries):
    data: dict = {}
    for key, value in entries.items():
        *path, leaf = key.split(".")
        node = data
        for part in path:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[leaf] = value
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):
        return  # not representable in TOML
    (tmp_path / "c.toml").write_text(text)
    _valid_or_clean(lambda: load_config(tmp_path / "c.toml", preset="road-signs-offline"))


@FUZZ
@given(key=st.sampled_from(KEYS) | st.text(max_size=30), raw=st.text(max_size=60))
def test_random_set_overrides(key, raw):
    _valid_or_clean(lambda: load_config(overrides=[f"{key}={raw}"]))


@FUZZ
@given(text=st.text(max_size=80))
def test_random_set_text(text):
    _valid_or_clean(lambda: load_config(overrides=[text]))
