"""The run filter language: parsing, error messages, and the SQL it runs on a real catalog file."""

import pytest
from fakes import fake_config, write_fake_run

from synthsign_tui.catalog import Catalog, query


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "runs.db")
    write_fake_run(cat, "alpha", seed=0, quality=0.9, tags=("baseline",))
    write_fake_run(cat, "beta", seed=1, quality=0.3)
    write_fake_run(
        cat,
        "gamma",
        seed=2,
        status="cancelled",
        epochs_done=2,
        config=fake_config("gamma", 2, train__lr=0.05),
    )
    return cat


def names(catalog, text, **kwargs):
    with catalog.session() as s:
        return [r.name for r in s.scalars(query.statement(text, **kwargs)).all()]


def test_empty_filter_lists_all_newest_first(catalog):
    assert names(catalog, "") == ["gamma", "beta", "alpha"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status:done", ["beta", "alpha"]),
        ("-status:done", ["gamma"]),
        ("generator=procedural status=cancelled", ["gamma"]),
        ("tag:baseline", ["alpha"]),
        ("tags:base", []),  # tags match whole tags
        ("val_acc>0.8", ["alpha"]),
        ("real_bal_acc>=0%", ["beta", "alpha"]),
        ("real_acc=none", ["gamma"]),
        ("train.lr<0.01", ["beta", "alpha"]),
        ("train.lr>=0.05", ["gamma"]),
        ("train.weights=none", ["gamma", "beta", "alpha"]),
        ("name:ph", ["alpha"]),
        ("ALPHA", ["alpha"]),
        ('"alp"', ["alpha"]),
        ("epochs<3", ["gamma"]),
    ],
)
def test_conditions(catalog, text, expected):
    assert names(catalog, text) == expected


def test_sort_by_any_field_nulls_last(catalog):
    assert names(catalog, "", order_by="real_bal_acc", descending=False)[-1] == "gamma"
    assert names(catalog, "", order_by="real_bal_acc")[-1] == "gamma"
    assert names(catalog, "", order_by="name", descending=False) == ["alpha", "beta", "gamma"]


def test_archived_hidden_unless_asked(catalog):
    run = catalog.list_runs()[0]
    catalog.update_run(run.id, archived=True)
    assert run.name not in names(catalog, "")
    assert names(catalog, "is:archived") == [run.name]
    assert run.name in names(catalog, "", include_archived=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gnerator=procedural", "did you mean 'generator'"),
        ("real_acc>high", "takes a number"),
        ("train.lrr<0.1", "did you mean 'train.lr'"),
        ("status:", "no value"),
        ('"unclosed', "close the quote"),
        ("started>yesterday", "dates are written"),
    ],
)
def test_errors_say_what_to_write(text, message):
    with pytest.raises(query.QueryError, match=message):
        query.parse(text)


def test_bad_sort_column():
    with pytest.raises(query.QueryError, match="cannot sort"):
        query.statement("", order_by="config_json")
