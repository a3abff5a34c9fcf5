"""The typed run configuration: one model feeds the TOML loader, the `--set` overrides and the app's form.

Every field has a default and a one-line description. Unknown keys, wrong types and impossible values are
rejected with a `ConfigError` that names the key, the value found and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthsign_tui.errors import ConfigError, shorten
from synthsign_tui.vocab import DESIGNS, RESERVED_EVALUATIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout, where assets/ lives
DICT_KEYS = ("data.variations.", "train.extra_sources.", "evaluate.extra_real.")  # free-form sub-keys
MAX_NAME_BYTES = 255  # the longest file name most file systems allow
DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,3})?")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?")


def _no_bool(value: Any) -> Any:
    """TOML `true` is not the number 1: refuse booleans where a number belongs (strings from the form pass)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not the boolean {str(value).lower()}")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool)]


def looks_like_path(model: str) -> bool:
    """Hub ids are "owner/name"; anything else with a path separator or a leading ./ ~ / is meant as a folder."""
    return model.startswith((".", "~", "/")) or "\\" in model or model.count("/") > 1


def template_fields(template: str) -> set[str]:
    """The {fields} of a prompt template; plain names only (no {x:spec}, {x!r}, {x.attr}, {x[0]} or {})."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"template {shorten(template)} cannot be read: {exc} (write {{{{ and }}}} for braces)"
        ) from None
    fields = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion:
            extra = f"!{conversion}" if conversion else f":{spec}"
            raise ValueError(
                f"template field {{{name}{extra}}} has a format spec or conversion: write plain {{{name}}}"
            )
        if not name.isidentifier():
            raise ValueError(
                f"template field {{{shorten(name, 40)[1:-1]}}} is not a name: use {{prompt}} or {{axis}} for a variation axis"
            )
        fields.add(name)
    return fields


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ClassSpec(_Section):
    name: str = Field(description="Class name; also the dataset folder name")
    prompts: list[str] = Field(default_factory=list, description="Text prompts for a diffusion model")
    draw: list[str] = Field(
        default_factory=list, description="Procedural designs drawn for this class (see `synthsign presets`)"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        bad = [c for c in '/\\:*?"<>|' if c in value] + [c for c in value[:10_000] if ord(c) < 32]
        if not value.strip() or bad or value in {".", ".."} or value.startswith((".", "_")):
            raise ValueError(
                f"class name {shorten(value)} cannot be a folder name: use letters, digits, '-' or ' ', "
                "without path separators or control characters, and not starting with '.' or '_'"
            )
        if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise ValueError(
                f"class name {shorten(value)} is longer than {MAX_NAME_BYTES} bytes, the longest folder name "
                "a file system allows: shorten it"
            )
        return value


class DataConfig(_Section):
    classes: list[ClassSpec] = Field(min_length=2, description="The classes, at least two")
    variations: dict[str, list[str]] = Field(
        default_factory=dict, description="Named attribute axes (weather, light, ...) mixed into prompts"
    )
    template: str = Field(
        default="{prompt}", description="Prompt template: {prompt} plus {axis} for each variation axis"
    )
    images_per_class: Int = Field(default=50, ge=1, le=1_000_000, description="Images generated per class")
    val_fraction: Float = Field(default=0.2, ge=0.0, lt=1.0, description="Share of each class kept for val")
    background_images: Int = Field(
        default=0, ge=0, description="Procedural 'no sign' images for an internal background class (0: none)"
    )

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, value: list[ClassSpec]) -> list[ClassSpec]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate class name(s) {dupes}: each class needs its own name")
        return value

    @field_validator("template")
    @classmethod
    def _plain_fields(cls, value: str) -> str:
        template_fields(value)
        return value

    @field_validator("variations")
    @classmethod
    def _axis_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for axis in value:
            if axis == "prompt":
                raise ValueError("a variation axis cannot be named 'prompt': {prompt} is the class's prompt")
            if not axis.isidentifier():
                raise ValueError(
                    f"variation axis {shorten(axis, 40)} is not a name usable as {{axis}} in the template: use "
                    "letters, digits and '_' (e.g. weather, time_of_day)"
                )
        return value

    @model_validator(mode="after")
    def _template_axes(self) -> DataConfig:
        fields = template_fields(self.template) if isinstance(self.template, str) else set()
        unknown = fields - {"prompt", *self.variations}
        if unknown:
            raise ValueError(
                f"template uses {sorted(unknown)}, which is not 'prompt' or a variation axis "
                f"{sorted(self.variations)}"
            )
        empty = [axis for axis, values in self.variations.items() if not values]
        if empty:
            raise ValueError(f"variation axis {empty[0]!r} has no values: give at least one or remove it")
        return self


class GeneratorConfig(_Section):
    kind: Literal["procedural", "diffusers"] = Field(default="procedural", description="Image generator")
    model: str = Field(default="Tongyi-MAI/Z-Image-Turbo", description="Diffusers hub id or local folder")
    steps: Int = Field(default=8, ge=1, le=1000, description="Denoising steps (diffusers)")
    guidance_scale: Float = Field(default=0.0, ge=0.0, le=50.0, description="Classifier-free guidance")
    height: Int = Field(default=1024, ge=8, le=4096, description="Image height in pixels")
    width: Int = Field(default=1024, ge=8, le=4096, description="Image width in pixels")
    batch_size: Int = Field(default=1, ge=1, le=256, description="Images per generator call")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="auto: bfloat16 on CUDA, float32 on CPU"
    )
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N")

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") != "diffusers":
            return value  # only the diffusers generator loads a model
        folder = resolve_path(value)
        if folder.is_dir():
            if not (folder / "model_index.json").is_file():
                raise ValueError(
                    f"folder {shorten(value, 200)} has no model_index.json, so it is not a saved diffusers pipeline "
                    "(save one with pipe.save_pretrained(folder)), or give a hub id like owner/name"
                )
        elif folder.exists() or looks_like_path(value):
            raise ValueError(
                f"diffusers model folder {shorten(value, 200)} does not exist (looked in {Path.cwd()} and the "
                "project folder): give an existing folder or a hub id like Tongyi-MAI/Z-Image-Turbo"
            )
        elif not HUB_ID.fullmatch(value):
            raise ValueError(
                f"{shorten(value)} is neither an existing folder nor a hub id like Tongyi-MAI/Z-Image-Turbo"
            )
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE.fullmatch(value):
            raise ValueError(
                f"device {shorten(value)} is not one of auto, cpu, cuda or cuda:N (N a GPU number)"
            )
        return value

    compile: bool = Field(
        default=True,
        description="Regional torch.compile of the denoiser on CUDA (1.45x measured; the first batch takes ~15 s longer)",
    )


class TrainConfig(_Section):
    model: Literal["resnet18"] = Field(default="resnet18", description="Classifier architecture")
    weights: str = Field(default="imagenet", description="imagenet, none, or a path to a state dict")
    image_size: Int = Field(default=224, ge=16, le=1024, description="Training and evaluation input size")
    batch_size: Int = Field(default=32, ge=1, le=4096, description="Training batch size")
    epochs: Int = Field(default=8, ge=1, le=10_000, description="Training epochs")
    optimizer: Literal["adam", "adamw", "sgd"] = Field(default="adam", description="Optimizer")
    lr: Float = Field(default=1e-3, gt=0.0, le=10.0, description="Learning rate")
    weight_decay: Float = Field(default=0.0, ge=0.0, le=1.0, description="Weight decay")
    schedule: Literal["constant", "cosine", "onecycle"] = Field(default="constant", description="LR schedule")
    label_smoothing: Float = Field(default=0.0, ge=0.0, lt=1.0, description="Cross-entropy label smoothing")
    ema: Float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Evaluate a moving average of the weights with this decay, warmed up over the first steps (0: off)",
    )
    hflip: bool = Field(default=True, description="RandomHorizontalFlip")
    color_jitter: Float = Field(default=0.0, ge=0.0, le=1.0, description="ColorJitter strength (0: off)")
    random_resized_crop: Float = Field(
        default=1.0, gt=0.0, le=1.0, description="RandomResizedCrop minimum scale (1.0: off)"
    )
    blur: Float = Field(default=0.0, ge=0.0, le=1.0, description="Probability of a Gaussian blur")
    grayscale: Float = Field(default=0.0, ge=0.0, le=1.0, description="Probability of greyscale")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
        default="auto", description="auto: bf16 on CUDA, none on CPU"
    )
    extra_sources: dict[str, Annotated[Float, Field(ge=0.0, le=100.0)]] = Field(
        default_factory=dict, description="Extra ImageFolder dirs mixed into training: {dir = fraction}"
    )
    num_threads: Int = Field(default=0, ge=0, le=256, description="CPU threads for torch (0: all cores)")

    @field_validator("weights")
    @classmethod
    def _weights_file(cls, value: str) -> str:
        if value in ("imagenet", "none"):
            return value
        path = resolve_path(value)
        if not path.is_file():
            raise ValueError(
                f"{shorten(value, 200)} is not imagenet, none, or an existing file ({path} "
                f"{'is not a file' if path.exists() else 'does not exist'}): give a ResNet18 state dict file"
            )
        return value


class EvaluateConfig(_Section):
    real_dir: str = Field(default="assets/real", description="Real photos: ImageFolder or flat folder")
    extra_real: dict[str, str] = Field(
        default_factory=dict, description="More real folders to evaluate: {name = dir}"
    )
    multicrop: Literal["auto", "on", "off"] = Field(
        default="auto", description="Classify crops at several scales (auto: when photos are large)"
    )
    tta: Literal["none", "flip"] = Field(
        default="none",
        description="flip: average a whole photo's prediction with its mirror image's (not multi-crop windows)",
    )
    batch_size: Int = Field(default=64, ge=1, le=4096, description="Evaluation batch size")

    @field_validator("extra_real")
    @classmethod
    def _own_names(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & set(RESERVED_EVALUATIONS))
        if taken:
            raise ValueError(
                f"{taken} name the run's own evaluations ({', '.join(RESERVED_EVALUATIONS)}): give the folder "
                "another name, or set evaluate.real_dir for the main real folder"
            )
        return value


class RunConfig(_Section):
    name: str = Field(default="run", min_length=1, max_length=200, description="Run name")
    seed: Int = Field(default=0, ge=0, le=2**63 - 1, description="Seed for every image and training")
    preset: str | None = Field(default=None, description="Preset this config came from")
    data: DataConfig
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.data.classes]

    @model_validator(mode="after")
    def _procedural_needs_designs(self) -> RunConfig:
        if self.generator.kind == "procedural":
            for spec in self.data.classes:
                if not spec.draw:
                    raise ValueError(
                        f"class {spec.name!r} has no 'draw' designs for the procedural generator: "
                        f"set data.classes.draw to some of {sorted(DESIGNS)}"
                    )
                unknown = [d for d in spec.draw if d not in DESIGNS]
                if unknown:
                    raise ValueError(
                        f"class {spec.name!r} draws unknown design(s) {unknown}: choose from {sorted(DESIGNS)}"
                    )
        else:
            missing = [c.name for c in self.data.classes if not c.prompts]
            if missing:
                raise ValueError(f"class(es) {missing} have no prompts for the diffusers generator")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self) -> str:
        return tomli_w.dumps(_without_none(self.to_dict()))


def resolve_path(path: str, base: Path | None = None) -> Path:
    """A path from a config: absolute as is; relative to `base` (or the working folder), then the project."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    for root in (base or Path.cwd(), PROJECT_ROOT):
        if (root / p).exists():
            return (root / p).resolve()
    return ((base or Path.cwd()) / p).resolve()


def known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(known_keys(ann, prefix + name + "."))
    keys.extend(prefix + "classes." + k for k in ClassSpec.model_fields if model is DataConfig)
    return keys


def _format_error(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    # classes.0.name -> data.classes[0].name
    key = ".".join(loc).replace(".classes.", ".classes[", 1)
    if "classes[" in key:
        head, _, tail = key.partition("classes[")
        idx, _, rest = tail.partition(".")
        key = f"{head}classes[{idx}]" + (f".{rest}" if rest else "")
    if err["type"] == "extra_forbidden":
        leaf = loc[-1]
        candidates = known_keys(RunConfig)
        close = difflib.get_close_matches(".".join(loc), candidates, n=1, cutoff=0.5)
        close = close or difflib.get_close_matches(leaf, [c.rsplit(".", 1)[-1] for c in candidates], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{key or leaf}: unknown key{hint}"
    if err["type"] == "missing":
        return f"{key}: required, but missing"
    msg = err["msg"].removeprefix("Value error, ")
    if isinstance(err.get("input"), dict) and err["type"] == "value_error":
        return f"{key or 'config'}: {msg}"  # a check across a whole section: the message names the values
    return f"{key or 'config'}: {msg} (got {_shown(err.get('input'))})"


def _shown(value: Any, limit: int = 60) -> str:
    """A found value as JSON, cut to about `limit` characters (an error never echoes a 50 MB value whole)."""
    if isinstance(value, str) and len(value) > limit:
        return f'{json.dumps(value[:limit], ensure_ascii=False)[:-1]}…" ({len(value):,} characters)'
    if isinstance(value, str | int | float | bool) or value is None:
        return json.dumps(value, ensure_ascii=False)
    return shorten(value, limit)


def validate(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a plain dict into a RunConfig, or raise ConfigError listing every problem."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(e) for e in exc.errors()]
        raise ConfigError(f"{source} is not valid:\n  " + "\n  ".join(lines)) from None


def field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Dotted key -> message for every problem (the form shows them next to their fields)."""
    try:
        RunConfig.model_validate(data)
    except ValidationError as exc:
        out: dict[str, str] = {}
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            out.setdefault(key or "config", _format_error(err).split(": ", 1)[-1])
        return out
    return {}


def _without_none(data: Any) -> Any:
    """TOML has no null: leave unset optional values out (loading them back gives the same defaults)."""
    if isinstance(data, dict):
        return {k: _without_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_none(v) for v in data]
    return data
