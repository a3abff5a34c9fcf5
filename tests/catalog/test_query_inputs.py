"""The filter parser against hostile input: malformed keys, too many words, huge words, and Hypothesis-made
filters run on a real catalog: rows or a clean SynthSignError, never another exception or a hang."""

from __future__ import annotations

import time

import pytest
from fakes import fake_config, write_fake_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthsign_tui.catalog import Catalog, query
from synthsign_tui.config import RunConfig, known_keys
from synthsign_tui.errors import SynthSignError


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    cat = Catalog(tmp_path_factory.mktemp("query") / "runs.db")
    write_fake_run(cat, "alpha", seed=0, tags=("baseline",))
    config = fake_config("beta", 1, train__extra_sources={"[": 0.5, "Photos": 0.25})
    write_fake_run(cat, "beta", seed=1, config=config)
    return cat


def names(catalog, text):
    with catalog.session() as s:
        return sorted(r.name for r in s.scalars(query.statement(text)).all())


def test_keys_of_free_form_sections_are_one_json_label(catalog):
    assert names(catalog, "train.extra_sources.[=0.5") == ["beta"]
    assert names(catalog, "train.extra_sources.Photos>0.2") == ["beta"]  # case kept
    assert names(catalog, "train.extra_sources.photos>0.2") == []
    assert names(catalog, "evaluate.extra_real.x]y[:z") == []
    with pytest.raises(query.QueryError, match="name the entry after"):
        query.parse("evaluate.extra_real.=x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" ".join(f"seed={i}" for i in range(1000)), "at most 2,000 are read"),
        (" ".join("x" for _ in range(1000)), "has 1,000 words; at most 64"),
        ("a" * 100_000, "is 100,000 characters long"),
        ("name:" + "%" * 1995, None),  # under the limit: a valid LIKE pattern
    ],
    ids=["1000-terms", "1000-words", "100k-word", "long-like"],
)
def test_size_limits(catalog, text, message):
    started = time.perf_counter()
    if message is None:
        assert names(catalog, text) == []
    else:
        with pytest.raises(query.QueryError) as info:
            query.parse(text)
        assert message in str(info.value) and len(str(info.value)) < 300
    assert time.perf_counter() - started < 2


def test_messages_cut_long_values():
    with pytest.raises(query.QueryError) as info:
        query.parse("images>" + "9x" * 900)
    assert "(1,807 characters)" in str(info.value) and len(str(info.value)) < 300


FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = [*query.FIELDS, "tag", "is", *known_keys(RunConfig), "train.extra_sources.", "evaluate.extra_real."]
word = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda neg, key, op, value: f"{neg}{key}{op}{value}",
        st.sampled_from(["", "-"]),
        st.sampled_from(FIELDS) | st.text(alphabet="abc._[]$\"'%\\", max_size=12),
        st.sampled_from(["=", ":", "!=", ">", ">=", "<", "<=", ">>", ""]),
        st.text(max_size=15) | st.sampled_from(["none", "true", "90%", "2025-01-31", "1e308", "nan", "-inf"]),
    ),
)


@FUZZ
@given(words=st.lists(word, max_size=8), quote=st.sampled_from(["", '"', "'"]))
def test_any_filter_runs_or_fails_cleanly(catalog, words, quote):
    text = " ".join(words) + quote
    try:
        with catalog.session() as s:
            rows = s.scalars(query.statement(text)).all()
    except SynthSignError as exc:
        assert str(exc)
    else:
        assert {r.name for r in rows} <= {"alpha", "beta"}


@FUZZ
@given(sort=st.text(max_size=20), descending=st.booleans())
def test_any_sort_name_runs_or_fails_cleanly(catalog, sort, descending):
    try:
        with catalog.session() as s:
            s.scalars(query.statement("", order_by=sort, descending=descending)).all()
    except SynthSignError as exc:
        assert "cannot sort by" in str(exc)


def test_a_config_key_without_a_value_is_an_error():
    with pytest.raises(query.QueryError, match="no value after '<'"):
        query.parse("train.lr<")
