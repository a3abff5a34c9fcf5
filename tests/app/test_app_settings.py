"""The dashboard's saved view: bad filters are refused beside the input and never saved; a stored value that
fails is reset with one notice at start-up (no error dialog, no loop)."""

from __future__ import annotations

import json

import pytest
from pilot import settle
from test_app import SIZE, db, make_app, table_names, text  # noqa: F401 (fixture)
from textual.widgets import Input, Static

from synthsign_tui.app import settings
from synthsign_tui.app.screens.modals import ErrorModal
from synthsign_tui.catalog import Catalog
from synthsign_tui.errors import SynthSignError


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_stored_settings_that_fail_are_reset_with_a_notice(db):  # noqa: F811
    catalog = Catalog(db)
    catalog.set_setting(settings.FILTER, "real_acc>lots")
    catalog.set_setting(settings.SORT, "nope:sideways")
    catalog.set_setting(settings.COLUMNS_KEY, '["name", "no-such-column"')
    for _ in range(2):  # the second start finds the defaults written back: no notice, no dialog
        app = make_app(db)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert not any(isinstance(s, ErrorModal) for s in app.screen_stack)
            assert sorted(table_names(app)) == ["alpha", "beta", "gamma"]
            assert app.screen.query_one("#filter", Input).value == ""
            found = notices(app)
        if _ == 0:
            assert len(found) == 3 and all("could not be used, so it was reset" in n for n in found)
            assert any("takes a number" in n for n in found)
        else:
            assert found == []
    assert catalog.get_setting(settings.FILTER) == ""
    assert catalog.get_setting(settings.SORT) == settings.DEFAULT_SORT
    assert json.loads(catalog.get_setting(settings.COLUMNS_KEY))


async def test_filters_too_long_or_malformed_are_refused_beside_the_input(db):  # noqa: F811
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        box = app.screen.query_one("#filter", Input)
        error = app.screen.query_one("#filter-error", Static)
        cases = [
            (" ".join(f"seed={i}" for i in range(1000)), "at most 2,000 are read"),
            (" ".join("x" for _ in range(1000)), "at most 64 are combined"),
            ("a" * 100_000, "100,000 characters long"),
            ("train.extra_sources.=1", "name the entry after 'train.extra_sources.'"),
        ]
        for value, message in cases:
            box.value = value
            await settle(app, pilot)
            assert error.display and message in text(error), value[:40]
            assert sorted(table_names(app)) == ["alpha", "beta", "gamma"]
        box.value = "train.extra_sources.[=1"  # a key SQLite could not read before: now one quoted label
        await settle(app, pilot)
        assert not error.display and table_names(app) == []
        assert not any(isinstance(s, ErrorModal) for s in app.screen_stack)
    assert Catalog(db).get_setting(settings.FILTER) == "train.extra_sources.[=1"


def test_settings_are_checked_before_saving(db):  # noqa: F811
    catalog = Catalog(db)
    for key, value in [(settings.SORT, "name:up"), (settings.COLUMNS_KEY, "[1]"), (settings.FILTER, "x>>1")]:
        with pytest.raises(SynthSignError):
            settings.save(catalog, key, value)
        assert catalog.get_setting(key) is None
    settings.save(catalog, settings.SORT, "name:asc")
    assert catalog.get_setting(settings.SORT) == "name:asc"


async def test_form_shows_the_new_input_checks_beside_their_fields(db):  # noqa: F811
    from test_app import open_new_form, type_and_leave

    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_form(app, pilot)
        cases = [
            ("data.template", "{prompt:d}", "has a format spec or conversion"),
            ("train.weights", "no-such-weights.pt", "is not imagenet, none, or an existing file"),
            ("name", "x" * 50_000, "(50,000 characters)"),
        ]
        for key, value, message in cases:
            error = await type_and_leave(form, pilot, key, value)
            assert error.display and message in text(error), key
            assert len(text(error)) < 400
            assert form.query_one("#launch").disabled
        classes = form.query_one("#class-0-name", Input)
        classes.value = "a\x00b"
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "control characters" in text(form.query_one("#err-class-0", Static))
        assert len(Catalog(db).list_runs(include_archived=True)) == 3
