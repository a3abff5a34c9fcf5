"""The New-run form, generated from the RunConfig model and validated by it.

Each field's widget, label and help line come from the pydantic field (Literal -> a select, bool -> a switch,
anything else -> an input); `config.field_errors` checks the whole form and each message appears under its
field once the field was left. Keys the form does not show keep the preset's values and can be set in the
"advanced" TOML area, which is merged on top.
"""

from __future__ import annotations

import copy
import typing
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    Collapsible,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
    Switch,
    TextArea,
)

from synthsign_tui import config as cfg
from synthsign_tui.app.bindings import bindings_for
from synthsign_tui.app.screens.modals import ShowsWorkerErrors

DEFAULT_PRESET = "road-signs-quick"  # what `n` opens: the welcome screen's "start here"
VALIDATE_AFTER_S = 0.3  # typing pauses this long before the whole config is validated again
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Run", ("name", "seed")),
    ("Data", ("data.images_per_class", "data.val_fraction", "data.template")),
    (
        "Generator",
        (
            "generator.kind",
            "generator.model",
            "generator.steps",
            "generator.guidance_scale",
            "generator.height",
            "generator.width",
            "generator.batch_size",
        ),
    ),  # fmt: skip
    (
        "Training",
        (
            "train.epochs",
            "train.batch_size",
            "train.lr",
            "train.image_size",
            "train.weights",
            "train.optimizer",
            "train.schedule",
            "train.weight_decay",
            "train.label_smoothing",
            "train.ema",
            "train.random_resized_crop",
            "train.color_jitter",
        ),
    ),  # fmt: skip
    ("Evaluation", ("evaluate.real_dir",)),
)
FORM_KEYS = [key for _, keys in SECTIONS for key in keys]


def field_info(key: str):
    model: Any = cfg.RunConfig
    *sections, leaf = key.split(".")
    for part in sections:
        model = model.model_fields[part].annotation
    return model.model_fields[leaf]


def widget_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


def get_path(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    *sections, leaf = key.split(".")
    node = data
    for part in sections:
        node = node.setdefault(part, {})
    node[leaf] = value


def full_preset(name: str) -> dict[str, Any]:
    """A preset with every default filled in, so each field of the form starts with a value."""
    return cfg.validate(cfg.preset_dict(name), f"preset {name!r}").to_dict()


class FormScreen(ShowsWorkerErrors, Screen):
    BINDINGS = bindings_for("form")

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.base = copy.deepcopy(config) if config else full_preset(DEFAULT_PRESET)
        self.touched: set[str] = set()
        self.show_all = False
        self._ready = False
        self.errors: dict[str, str] = {}
        self._pending: Timer | None = None  # a validation waiting for typing to pause
        self.n_classes = len(get_path(self.base, "data.classes") or [])

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        presets = list(cfg.list_presets())
        current = self.base.get("preset")
        with VerticalScroll(id="form"):
            with Horizontal(classes="form-row"):
                yield Label("preset", classes="field-label")
                yield Select(
                    [(name, name) for name in presets],
                    value=current if current in presets else Select.NULL,
                    prompt="(this run's own config)",
                    id="preset",
                    allow_blank=True,
                    compact=True,
                )
                yield Static("a starting point; changing it replaces every field", classes="field-help")
            for title, keys in SECTIONS:
                yield Label(title, classes="form-section")
                for key in keys:
                    yield from self._field_row(key)
                if title == "Data":
                    yield from self._class_section()
            with Collapsible(
                title="Advanced: any other config key, as TOML (merged on top)", id="advanced-box"
            ):
                yield TextArea(
                    "", id="advanced", language=None, soft_wrap=True,
                    placeholder='[train]\nblur = 0.2\ngrayscale = 0.1',
                )  # fmt: skip
                yield Static("", id="err-advanced", classes="field-error")
            yield Static("", id="err-summary", classes="field-error")
            with Horizontal(classes="form-row"):
                yield Label("processes", classes="field-label")
                yield Input("1", id="processes", type="integer", compact=True)
                yield Static(
                    "1: one process; more: an `accelerate launch` on this box's GPUs (or CPU processes); either way "
                    "in the background: the run keeps going when the dashboard or its terminal closes",
                    classes="field-help",
                )
            with Horizontal(id="form-buttons"):
                yield Button("Launch (ctrl+s)", id="launch", variant="success")
                yield Button("Cancel (esc)", id="cancel")
        yield Footer()

    def _field_row(self, key: str) -> ComposeResult:
        info = field_info(key)
        value = get_path(self.base, key)
        with Horizontal(classes="form-row"):
            yield Label(key, classes="field-label")
            if typing.get_origin(info.annotation) is typing.Literal:
                options = [(str(o), o) for o in typing.get_args(info.annotation)]
                yield Select(options, value=value, allow_blank=False, id=widget_id(key), compact=True)
            elif info.annotation is bool:
                yield Switch(value=bool(value), id=widget_id(key))
            else:
                yield Input("" if value is None else str(value), id=widget_id(key), compact=True)
            yield Static(info.description or "", classes="field-help")
        yield Static("", id="err-" + widget_id(key), classes="field-error")

    def _class_section(self) -> ComposeResult:
        from synthsign_tui.engine.generators.procedural import DESIGNS

        yield Label(
            "Classes: name · prompts (separated by ;) · procedural designs (separated by ,)",
            classes="field-sub",
        )
        yield Vertical(*self._class_rows(get_path(self.base, "data.classes") or []), id="class-rows")
        with Horizontal(id="class-buttons"):
            yield Button("+ class", id="add-class", compact=True)
            yield Button("− last class", id="remove-class", compact=True)
            yield Static("designs: " + ", ".join(DESIGNS), classes="field-help")
        yield Static("", id="err-classes", classes="field-error")
        yield Label(
            "Variation axes, one per line: axis: value, value, …  (use {axis} in the template)",
            classes="field-sub",
        )
        variations = get_path(self.base, "data.variations") or {}
        text = "\n".join(f"{axis}: {', '.join(values)}" for axis, values in variations.items())
        yield TextArea(text, id="variations", soft_wrap=True)
        yield Static("", id="err-variations", classes="field-error")

    def _class_rows(self, classes: list[dict[str, Any]]) -> list[Vertical]:
        rows = []
        for i, spec in enumerate(classes):
            name = Input(spec.get("name", ""), placeholder="name", id=f"class-{i}-name", compact=True)
            prompts = Input("; ".join(spec.get("prompts", [])), placeholder="prompts; …", compact=True)
            draw = Input(", ".join(spec.get("draw", [])), placeholder="designs, …", compact=True)
            prompts.id, draw.id = f"class-{i}-prompts", f"class-{i}-draw"
            name.add_class("class-name")
            error = Static("", id=f"err-class-{i}", classes="field-error")
            rows.append(Vertical(Horizontal(name, prompts, draw, classes="class-row"), error))
        return rows

    def on_mount(self) -> None:
        self.query_one(f"#{widget_id('name')}").focus()
        self._ready = True
        self.validate_form()
        self._show_errors()

    # ------------------------------------------------------------------ reading the form

    def form_data(self) -> tuple[dict[str, Any], str | None]:
        """The config dict the form describes, and a TOML error of the advanced area if any."""
        data = copy.deepcopy(self.base)
        for key in FORM_KEYS:
            widget = self.query_one(f"#{widget_id(key)}")
            value = widget.value
            if isinstance(widget, Input) and value.strip() == "" and get_path(self.base, key) is None:
                continue
            set_path(data, key, value)
        classes = []
        for i in range(self.n_classes):
            prompts = self.query_one(f"#class-{i}-prompts", Input).value.split(";")
            draw = self.query_one(f"#class-{i}-draw", Input).value.split(",")
            classes.append(
                {
                    "name": self.query_one(f"#class-{i}-name", Input).value.strip(),
                    "prompts": [p.strip() for p in prompts if p.strip()],
                    "draw": [d.strip() for d in draw if d.strip()],
                }
            )
        set_path(data, "data.classes", classes)
        variations = {}
        for line in self.query_one("#variations", TextArea).text.splitlines():
            if line.strip():
                axis, _, values = line.partition(":")
                variations[axis.strip()] = [v.strip() for v in values.split(",") if v.strip()]
        set_path(data, "data.variations", variations)
        advanced = self.query_one("#advanced", TextArea).text
        try:
            cfg.deep_update(data, cfg.parse_toml(advanced, "the advanced TOML"))
        except cfg.ConfigError as exc:
            return data, str(exc)
        return data, None

    def validate_form(self) -> dict[str, str]:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        if not self._ready:
            return self.errors
        data, toml_error = self.form_data()
        errors = cfg.field_errors(data)
        if toml_error:
            errors["advanced"] = toml_error
        self.errors = errors
        return errors

    def _target(self, key: str) -> str:
        """The error line a config error key belongs to."""
        if key in FORM_KEYS:
            return "err-" + widget_id(key)
        if key.startswith("data.classes."):
            index = key.split(".")[2]
            if index.isdigit() and int(index) < self.n_classes:
                return f"err-class-{index}"
            return "err-classes"
        if key in ("data.classes", "config"):
            return "err-classes"
        if key == "data" or key.startswith(("data.variations", "data.template")):
            return "err-variations"
        return "err-advanced"

    def _show_errors(self) -> None:
        if not self._ready:
            return
        everything = self.show_all
        targets: dict[str, list[str]] = {}
        for key, message in self.errors.items():
            target = self._target(key)
            shown = everything or key in self.touched or target in self.touched or key == "advanced"
            if shown:
                label = "" if key in FORM_KEYS else f"{key}: "
                targets.setdefault(target, []).append(f"✗ {label}{message}")
        for static in self.query(".field-error"):
            if static.id == "err-summary":
                continue
            lines = targets.get(static.id or "", [])
            static.update("\n".join(lines))
            static.display = bool(lines)
        summary = self.query_one("#err-summary", Static)
        summary.display = everything and bool(self.errors)
        if self.errors:
            summary.update(f"{len(self.errors)} problem(s) to fix before launching (marked ✗ above)")
        self.query_one("#launch", Button).disabled = bool(self.errors)

    # ------------------------------------------------------------------ events

    @on(Input.Blurred)
    def _blurred(self, event: Input.Blurred) -> None:
        wid = event.input.id or ""
        if wid.startswith("class-"):
            self.touched.add(f"err-class-{wid.split('-')[1]}")
            self.touched.add("err-classes")
        else:
            self.touched.add(wid.removeprefix("f-").replace("--", "."))
        self.validate_form()
        self._show_errors()

    @on(Input.Changed)
    def _changed(self) -> None:
        self._validate_soon()

    def _validate_soon(self) -> None:
        """Validate once typing pauses, not on every key (leaving a field or launching validates at once)."""
        if self._pending is not None:
            self._pending.stop()
        self._pending = self.set_timer(VALIDATE_AFTER_S, self._validate_now)

    def _validate_now(self) -> None:
        self.validate_form()
        self._show_errors()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            if event.value != Select.NULL and event.value != self.base.get("preset"):
                self.load_preset(str(event.value))
            return
        self.touched.add((event.select.id or "").removeprefix("f-").replace("--", "."))
        self.validate_form()
        self._show_errors()

    @on(TextArea.Changed)
    def _text_changed(self, event: TextArea.Changed) -> None:
        self.touched.add("err-variations" if event.text_area.id == "variations" else "err-advanced")
        self._validate_soon()

    def load_preset(self, name: str) -> None:
        self.base = full_preset(name)
        for key in FORM_KEYS:
            widget = self.query_one(f"#{widget_id(key)}")
            value = get_path(self.base, key)
            if isinstance(widget, Input):
                widget.value = "" if value is None else str(value)
            else:
                widget.value = value
        variations = get_path(self.base, "data.variations") or {}
        self.query_one("#variations", TextArea).text = "\n".join(
            f"{axis}: {', '.join(values)}" for axis, values in variations.items()
        )
        self._set_classes(get_path(self.base, "data.classes") or [])
        self.touched.clear()
        self.validate_form()
        self._show_errors()
        self.notify(f"Loaded preset {name}")

    def _set_classes(self, classes: list[dict[str, Any]]) -> None:
        box = self.query_one("#class-rows", Vertical)
        box.remove_children()
        self.n_classes = len(classes)
        box.mount_all(self._class_rows(classes))

    @on(Button.Pressed, "#add-class")
    def add_class_row(self) -> None:
        data, _ = self.form_data()
        classes = data["data"]["classes"] + [{"name": "", "prompts": [], "draw": []}]
        self.base["data"]["classes"] = classes
        self._set_classes(classes)

    @on(Button.Pressed, "#remove-class")
    def remove_class_row(self) -> None:
        data, _ = self.form_data()
        classes = data["data"]["classes"][:-1]
        self.base["data"]["classes"] = classes
        self._set_classes(classes)

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_back()

    def action_launch(self) -> None:
        errors = self.validate_form()
        self.show_all = True
        self._show_errors()
        if errors:
            first = next(iter(errors))
            self.notify(
                f"Not launched: {len(errors)} problem(s), first {first}: {errors[first]}", severity="error"
            )
            target = f"#{widget_id(first)}" if first in FORM_KEYS else None
            if target:
                self.query_one(target).focus()
            return
        raw = self.query_one("#processes", Input).value.strip() or "1"
        if not raw.isdigit() or not 1 <= int(raw) <= 1024:
            self.notify(
                f"Not launched: processes must be a whole number from 1 to 1024, not {raw!r}",
                severity="error",
            )
            self.query_one("#processes", Input).focus()
            return
        data, _ = self.form_data()
        config = cfg.validate(data, "the form")
        self.app.pop_screen()
        self.app.launch(config, int(raw))

    def action_back(self) -> None:
        self.app.pop_screen()
