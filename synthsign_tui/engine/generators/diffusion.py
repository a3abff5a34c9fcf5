"""Text-to-image generation with a diffusers pipeline (default: Z-Image-Turbo).

`DiffusersGenerator` loads the pipeline once and turns batches of jobs (prompt + seed) into PIL images. Every
image gets its own `torch.Generator`, so an image depends on its seed and prompt, not on its batch. For Z-Image
the text encoder runs once per distinct prompt and the embeddings are kept in a bounded cache; on CUDA the
fastest installed attention kernel is selected and `cfg.compile` compiles the transformer's repeated blocks. Z-Image's
attention gets one fused q/k/v projection and rotary embeddings in real arithmetic (`fuse_zimage_attention`), which
the compiler can fuse with the neighbouring element-wise work (benchmarks/generation_throughput.py measures it).

torch and diffusers are imported inside functions so that importing this module is instant.
"""

from __future__ import annotations

import importlib.util
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from synthsign_tui.config import GeneratorConfig, resolve_path
from synthsign_tui.config.model import looks_like_path
from synthsign_tui.errors import SynthSignError

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger(__name__)

# Z-Image embeddings are (prompt tokens x 2560) per prompt, 0.1-0.5 MB in bf16: 512 of them stay well under 1 GB.
MAX_CACHED_PROMPTS = 512
# Varlen kernels first: Z-Image pads captions of different lengths and passes a key mask, which the plain
# flash kernels do not accept. Each needs its package installed; otherwise torch's SDPA ("native") is used.
ATTENTION_BACKENDS = {"_flash_varlen_3": "flash_attn_interface", "flash_varlen": "flash_attn"}


class Job(Protocol):
    prompt: str
    seed: int


def resolve_device(name: str) -> str:
    """The device for generator.device: "auto" is "cuda" when torch sees a GPU, else "cpu"."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SynthSignError(
            f"generator.device {name!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SynthSignError(
                f"generator.device is {name!r} but torch sees no CUDA GPU here: set generator.device = 'auto' "
                "or 'cpu'"
            )
        if device.index is not None and device.index >= count:
            raise SynthSignError(f"generator.device is {name!r} but torch sees only {count} GPU(s)")
    return name


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """The torch dtype for generator.dtype: "auto" is bfloat16 on CUDA, float32 elsewhere."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def _how_to_get_model(model: str) -> str:
    return (
        "Ways out:\n"
        f"  - download it once on a machine with internet (`hf download {model}`) and copy the Hugging Face cache "
        "here\n"
        "  - point generator.model at a local folder in the diffusers save_pretrained layout (with "
        "model_index.json)\n"
        "  - set HF_HOME to a Hugging Face cache that holds it\n"
        '  - use generator.kind = "procedural", which needs no model'
    )


def load_pipeline(model: str, dtype: torch.dtype):
    """`DiffusionPipeline.from_pretrained` for a hub id or a local folder; failures become a SynthSignError.

    A relative folder is looked up from the working folder, then the project (as other paths in a config).
    """
    from diffusers import DiffusionPipeline
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    folder = resolve_path(model)
    if folder.exists():
        if not (folder / "model_index.json").is_file():
            raise SynthSignError(
                f"diffusers model folder {model!r} has no model_index.json, so it is not a saved pipeline "
                "(save it with pipe.save_pretrained(folder)).\n" + _how_to_get_model(model)
            )
        try:
            return DiffusionPipeline.from_pretrained(folder, dtype=dtype)
        except (OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise SynthSignError(f"diffusers model folder {model!r} could not be loaded: {reason}") from None
    if looks_like_path(model):
        raise SynthSignError(f"diffusers model folder {model!r} does not exist.\n" + _how_to_get_model(model))

    try:
        return DiffusionPipeline.from_pretrained(model, dtype=dtype)
    except GatedRepoError:
        why = "it is gated on the Hugging Face Hub: accept its licence there and log in with `hf auth login`"
    except RepositoryNotFoundError:
        why = "the Hugging Face Hub has no model with this id (check the spelling, owner/name)"
    except HFValidationError:
        why = "it is neither an existing local folder nor a valid hub id (owner/name)"
    except OSError:
        from huggingface_hub.constants import HF_HUB_CACHE

        from synthsign_tui.engine.readiness import hub_offline

        offline = " (HF_HUB_OFFLINE is set)" if hub_offline() else ""
        why = (
            f"it is not in the local Hugging Face cache ({HF_HUB_CACHE}) and could not be downloaded{offline}"
        )
    raise SynthSignError(f"cannot load diffusers model {model!r}: {why}.\n" + _how_to_get_model(model))


def size_multiple(pipe) -> int:
    """The multiple that height and width must be for this pipeline (Z-Image and FLUX: 16, SDXL: 8, SANA: 32)."""
    processor = getattr(pipe, "image_processor", None)
    if processor is not None and "vae_scale_factor" in processor.config:
        return int(processor.config.vae_scale_factor)
    return 2 * int(getattr(pipe, "vae_scale_factor", 8))


def set_fastest_attention(model) -> str:
    """Select the fastest installed attention kernel on a CUDA model; returns its name ("native": torch SDPA)."""
    if not hasattr(model, "set_attention_backend"):
        return "native"
    for backend, package in ATTENTION_BACKENDS.items():
        if importlib.util.find_spec(package) is None:
            continue
        try:
            model.set_attention_backend(backend)
        except (RuntimeError, ValueError, ImportError) as exc:
            log.info("attention backend %s is not usable: %s", backend, exc)
            continue
        return backend
    return "native"


class FusedZImageAttention:
    """Z-Image's single-stream attention with one q/k/v matmul and the rotary embedding in real arithmetic.

    It computes what diffusers' `ZSingleStreamAttnProcessor` computes (same projections, norms, rotary embedding
    in float32, attention call), with two changes for speed: the three projections are one matmul over weights
    that `fuse_zimage_attention` concatenated, and the rotary embedding multiplies (cos, sin) pairs instead of
    complex numbers, which torch.compile cannot generate code for.
    """

    _attention_backend = None
    _parallel_config = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, freqs_cis=None):
        import torch
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        query, key, value = (
            t.unflatten(-1, (attn.heads, -1)) for t in attn.to_qkv(hidden_states).chunk(3, dim=-1)
        )
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if freqs_cis is not None:
            rotation = torch.view_as_real(freqs_cis).unsqueeze(
                2
            )  # (batch, tokens, 1, head_dim / 2, [cos, sin])
            query, key = _rotate(query, rotation), _rotate(key, rotation)
        if attention_mask is not None and attention_mask.ndim == 2:
            attention_mask = attention_mask[:, None, None, :]
        out = dispatch_attention_fn(
            query,
            key,
            value,
            attn_mask=attention_mask,
            dropout_p=0.0,
            is_causal=False,
            backend=self._attention_backend,
            parallel_config=self._parallel_config,
        )
        out = attn.to_out[0](out.flatten(2, 3).to(query.dtype))
        return attn.to_out[1](out) if len(attn.to_out) > 1 else out


def _rotate(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of x (..., head_dim) by (cos, sin) pairs (..., head_dim / 2, 2), in float32."""
    import torch

    pairs = x.float().unflatten(-1, (-1, 2))
    real, imag = pairs[..., 0], pairs[..., 1]
    cos, sin = rotation[..., 0], rotation[..., 1]
    return torch.stack((real * cos - imag * sin, real * sin + imag * cos), dim=-1).flatten(-2).type_as(x)


def fuse_zimage_attention(model) -> int:
    """Give every Z-Image attention of `model` a fused q/k/v projection and `FusedZImageAttention`.

    `to_q`, `to_k` and `to_v` keep working as views into the fused weight, so no memory is added. Returns how
    many attentions were changed (0 for models that are not Z-Image, or a diffusers that changed the class).
    """
    import torch

    try:
        from diffusers.models.transformers.transformer_z_image import ZSingleStreamAttnProcessor
    except ImportError:
        return 0
    fused = 0
    for module in model.modules():
        processor = getattr(module, "processor", None)
        if type(processor) is not ZSingleStreamAttnProcessor or getattr(module, "is_cross_attention", True):
            continue
        module.fuse_projections()
        weight = module.to_qkv.weight
        with torch.no_grad():
            for part, linear in zip(weight.chunk(3), (module.to_q, module.to_k, module.to_v), strict=True):
                linear.weight = torch.nn.Parameter(part, requires_grad=False)
        replacement = FusedZImageAttention()
        replacement._attention_backend = processor._attention_backend
        replacement._parallel_config = processor._parallel_config
        module.set_processor(replacement)
        fused += 1
    return fused


class DiffusersGenerator:
    """A diffusers text-to-image pipeline loaded once; `generate()` turns a batch of jobs into images."""

    def __init__(self, cfg: GeneratorConfig, pipeline: Any = None, fuse: bool = True):
        """Load `cfg.model` (hub id or local folder), or use `pipeline` if given: one built in memory, already in
        the wanted dtype (the benchmark does this). `fuse=False` leaves Z-Image's attention as diffusers has it
        (the benchmark's comparison)."""
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.dtype = resolve_dtype(cfg.dtype, self.device)
        self.pipe = pipeline if pipeline is not None else load_pipeline(cfg.model, self.dtype)
        multiple = size_multiple(self.pipe)
        if cfg.height % multiple or cfg.width % multiple:
            raise SynthSignError(
                f"generator.height and generator.width must be multiples of {multiple} for "
                f"{type(self.pipe).__name__} (got {cfg.height}x{cfg.width}); for example "
                f"{_round(cfg.height, multiple)}x{_round(cfg.width, multiple)}"
            )
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.denoiser = getattr(self.pipe, "transformer", None) or getattr(self.pipe, "unet", None)
        self.attention_backend = "native"
        self.compiled = False
        on_cuda = self.device.startswith("cuda")
        if on_cuda and self.denoiser is not None:
            self.attention_backend = set_fastest_attention(self.denoiser)
        self.fused_attentions = (
            fuse_zimage_attention(self.denoiser) if fuse and self.denoiser is not None else 0
        )
        if cfg.compile:
            self._compile(on_cuda)
        from diffusers import ZImagePipeline

        # Only Z-Image's encode_prompt returns one embedding per prompt that __call__ takes back as a list;
        # other pipelines encode inside each call.
        self.caches_prompts = isinstance(self.pipe, ZImagePipeline)
        self._embeddings: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._negative: torch.Tensor | None = None
        self.text_encoder_calls = 0
        log.info(
            "loaded %s (%s) on %s in %s, attention %s (%d fused), compiled %s",
            cfg.model,
            type(self.pipe).__name__,
            self.device,
            str(self.dtype).removeprefix("torch."),
            self.attention_backend,
            self.fused_attentions,
            self.compiled,
        )

    def _compile(self, on_cuda: bool) -> None:
        if not on_cuda:
            log.info("generator.compile applies to CUDA only; running eagerly on %s", self.device)
            return
        if not getattr(self.denoiser, "_repeated_blocks", None):
            log.warning("%s has no repeated blocks to compile; running eagerly", type(self.denoiser).__name__)
            return
        # The varlen flash kernels read sequence lengths with .item(), a graph break that fullgraph forbids.
        self.denoiser.compile_repeated_blocks(fullgraph=self.attention_backend == "native")
        self.compiled = True

    def generate(self, jobs: Sequence[Job]) -> list[tuple[Image.Image, dict[str, Any]]]:
        """Images (cfg.width x cfg.height, RGB) and extra attributes for a batch of jobs, in job order."""
        import torch

        if not 0 < len(jobs) <= self.cfg.batch_size:
            raise ValueError(f"a batch holds 1 to {self.cfg.batch_size} jobs, got {len(jobs)}")
        prompts = [job.prompt for job in jobs]
        kwargs: dict[str, Any] = {
            "num_inference_steps": self.cfg.steps,
            "guidance_scale": self.cfg.guidance_scale,
            "height": self.cfg.height,
            "width": self.cfg.width,
            "generator": [torch.Generator(device=self.device).manual_seed(job.seed) for job in jobs],
        }
        if self.caches_prompts:
            kwargs.update(self.prompt_embeddings(prompts))
        else:
            kwargs["prompt"] = list(prompts)  # the pipeline may rewrite the list in place
        images = self.pipe(**kwargs).images
        out = []
        for image in images:
            if image.size != (self.cfg.width, self.cfg.height):
                raise RuntimeError(
                    f"{type(self.pipe).__name__} returned {image.size[0]}x{image.size[1]} images for a "
                    f"{self.cfg.width}x{self.cfg.height} request"
                )
            out.append((image.convert("RGB"), {}))
        return out

    def prompt_embeddings(self, prompts: list[str]) -> dict[str, Any]:
        """Z-Image `prompt_embeds` (and negatives when guided) for `prompts`, encoding only uncached prompts."""
        import torch

        missing = [p for p in dict.fromkeys(prompts) if p not in self._embeddings]
        guided = self.cfg.guidance_scale > 0
        missing_negative = [""] if guided and self._negative is None else []
        if missing or missing_negative:
            with torch.no_grad():
                encoded, _ = self.pipe.encode_prompt(
                    prompt=list(missing + missing_negative),
                    device=self.device,
                    do_classifier_free_guidance=False,
                )
            self.text_encoder_calls += 1
            if missing_negative:
                self._negative = encoded.pop()
            self._embeddings.update(zip(missing, encoded, strict=True))
        embeds = []
        for prompt in prompts:
            self._embeddings.move_to_end(prompt)
            embeds.append(self._embeddings[prompt])
        while len(self._embeddings) > MAX_CACHED_PROMPTS:
            self._embeddings.popitem(last=False)
        negative = [self._negative] * len(prompts) if guided else None
        return {"prompt_embeds": embeds, "negative_prompt_embeds": negative}


def _round(value: int, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)
