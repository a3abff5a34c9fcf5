"""Z-Image-Turbo generation throughput on one GPU: the original notebook's settings against SynthSign's.

The pipeline is built from the published configs with random weights, in bf16, directly on the GPU: nothing is
downloaded. Random weights draw noise, but every matmul has the real model's shapes, so the timings are real.

  notebook      1024x1024, batch 1, eager, the prompt encoded in every call (what the original notebook did)
  notebook-512  the same at 512x512, to separate the resolution from the rest
  ours-eager    512x512, a batch of 8 through DiffusersGenerator without compile: what batching and the prompt
                cache give alone
  ours          512x512, batches of 8 and 16 through DiffusersGenerator: one text-encoder pass per distinct
                prompt, regional torch.compile of the transformer blocks, the fastest installed attention kernel,
                fused q/k/v projections and real-arithmetic rotary embeddings (`fuse_zimage_attention`)
  ours-1024     ours at the notebook's 1024x1024, batch 4
  ours-unfused  the same as ours at the largest batch, with diffusers' own attention processor
  ours-autotune ours at the largest batch compiled with mode="max-autotune-no-cudagraphs" (slow to compile)

Each config runs on its own: one that fails is reported as failed and the others still run, and the markdown and
JSON results are rewritten after every config, so a run stopped by a time limit keeps what it measured.

Every image gets a distinct prompt from the road-signs-zimage preset's template (as in a real run), so the
text encoder runs for every image in every configuration. Times are medians over calls after warm-up.

FLOPs per image count the transformer only (the text encoder and the VAE decode add a few per cent):

    steps * (2 * P * T + 4 * L * T**2 * dim)

P: transformer parameters; T: tokens, image (H/16 * W/16) plus caption (chat-templated prompt, rounded up to 32
as Z-Image pads it); L: blocks a token passes (n_layers + n_refiner_layers); dim: model width. The first term
is each weight used once per token (multiply and add), the second the two attention matmuls QK^T and AV.
Fraction of peak: FLOPs per image x images/s over the bf16 rate of a large square matmul measured here.

    python benchmarks/generation_throughput.py --out /tmp/generation.md   # a GPU (the committed results in
                                                                          # benchmarks/results/ combine 3 runs)
    python benchmarks/generation_throughput.py --toy     # a tiny model on CPU: checks the script in ~30 s
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import platform
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tiny model and the tokenizer builder live in tests/zimage.py

from synthsign_tui.config import GeneratorConfig, preset_dict  # noqa: E402
from synthsign_tui.engine.generators.diffusion import DiffusersGenerator  # noqa: E402
from tests.zimage import (  # noqa: E402
    TINY_TEXT_ENCODER,
    TINY_TRANSFORMER,
    TINY_VAE,
    build_tokenizer,
    make_zimage,
)

log = logging.getLogger("generation_throughput")

MODEL = "Tongyi-MAI/Z-Image-Turbo (random weights)"
# Published configs of Z-Image-Turbo: transformer/config.json, text_encoder (Qwen3-4B) and the FLUX VAE.
FULL_TRANSFORMER = {
    "dim": 3840,
    "n_layers": 30,
    "n_refiner_layers": 2,
    "n_heads": 30,
    "n_kv_heads": 30,
    "cap_feat_dim": 2560,
    "axes_dims": [32, 48, 48],
    "axes_lens": [1536, 512, 512],
    "rope_theta": 256.0,
    "t_scale": 1000.0,
    "norm_eps": 1e-5,
    "qk_norm": True,
}
FULL_TEXT_ENCODER = {
    "vocab_size": 151936,
    "hidden_size": 2560,
    "intermediate_size": 9728,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "rope_theta": 1_000_000.0,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 40960,
}
FULL_VAE = {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "sample_size": 1024}


@dataclass
class Setting:
    name: str
    size: int
    batch: int
    ours: bool
    compile: bool = True
    fuse: bool = True
    mode: str | None = None  # torch.compile mode


@dataclass
class Job:
    prompt: str
    seed: int


@dataclass
class Result:
    config: str
    resolution: str
    batch: int
    compiled: bool
    attention: str
    fused: bool
    images_per_s: float
    s_per_image: float
    tflop_per_image: float
    peak_fraction: float
    memory_gib: float
    first_call_s: float = 0.0
    error: str = ""


def road_sign_prompts(count: int) -> list[str]:
    """`count` distinct prompts from the road-signs-zimage preset's template, in a fixed shuffled order."""
    preset = preset_dict("road-signs-zimage")
    data = preset["data"]
    axes = data["variations"]
    combos = [
        data["template"].format(prompt=cls["prompts"][0], **dict(zip(axes, values, strict=True)))
        for cls in data["classes"]
        for values in itertools.product(*axes.values())
    ]
    random.Random(0).shuffle(combos)
    return combos[:count]


def build_pipeline(toy: bool, device: str, dtype, prompts: list[str]):
    import torch

    torch.manual_seed(0)
    tokenizer = build_tokenizer(prompts[:2000], vocab_size=400 if toy else 2000)
    configs = (
        (TINY_TRANSFORMER, TINY_VAE, TINY_TEXT_ENCODER)
        if toy
        else (FULL_TRANSFORMER, FULL_VAE, FULL_TEXT_ENCODER)
    )
    started = time.perf_counter()
    pipe = make_zimage(*configs, tokenizer=tokenizer, dtype=dtype, device=device)
    pipe.set_progress_bar_config(disable=True)
    log.info("built the pipeline with random weights on %s in %.1f s", device, time.perf_counter() - started)
    return pipe


def measure_peak_flops(device: str, dtype, n: int, repeats: int) -> float:
    """FLOP/s of an n x n x n matmul in `dtype`: what this device reaches on the ideal workload."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(max(3, repeats // 5)):  # lets the clocks ramp up
        a @ b
    sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def caption_tokens(pipe, prompt: str) -> int:
    """Tokens the transformer sees for a prompt: the chat-templated text, padded to a multiple of 32."""
    text = pipe.tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=True,
    )
    count = len(pipe.tokenizer(text).input_ids)
    return -(-count // 32) * 32


def transformer_flops(pipe, size: int, prompts: list[str], steps: int) -> float:
    """steps * (2 * P * T + 4 * L * T**2 * dim), averaged over the prompts (see the module docstring)."""
    transformer = pipe.transformer
    config = transformer.config
    # A fused q/k/v weight holds the same numbers as to_q, to_k and to_v (which become views of it): count them once.
    params = sum(
        p.numel() for name, p in transformer.named_parameters() if not name.endswith("to_qkv.weight")
    )
    image_tokens = (size // (pipe.vae_scale_factor * 2)) ** 2
    blocks = config.n_layers + config.n_refiner_layers
    per_prompt = []
    for prompt in prompts:
        tokens = image_tokens + caption_tokens(pipe, prompt)
        per_prompt.append(steps * (2 * params * tokens + 4 * blocks * tokens**2 * config.dim))
    return statistics.fmean(per_prompt)


def run_setting(pipe, setting: Setting, prompts, steps: int, warmup: int, calls: int, device: str, dtype):
    """Median seconds per call after `warmup` calls, and the generator's settings (compiled, attention)."""
    import torch

    torch.manual_seed(0)
    if setting.ours:
        torch._dynamo.reset()  # each batch size compiles afresh, as in a user's run
        cfg = GeneratorConfig(
            kind="diffusers",
            model=MODEL,
            steps=steps,
            guidance_scale=0.0,
            height=setting.size,
            width=setting.size,
            batch_size=setting.batch,
            dtype=str(dtype).removeprefix("torch."),
            device=device,
            compile=setting.compile,
        )
        unfuse(pipe.transformer)
        generator = DiffusersGenerator(cfg, pipeline=pipe, fuse=setting.fuse)
        if setting.mode:
            generator.denoiser.compile_repeated_blocks(
                fullgraph=generator.attention_backend == "native", mode=setting.mode
            )
            generator.compiled = True
        compiled, attention = generator.compiled, generator.attention_backend
        fused = generator.fused_attentions > 0

        def call(index: int) -> None:
            batch = prompts[index * setting.batch : (index + 1) * setting.batch]
            jobs = [Job(prompt, seed=index * setting.batch + i) for i, prompt in enumerate(batch)]
            generator.generate(jobs)

    else:
        unfuse(pipe.transformer)
        compiled, attention, fused = False, "native", False

        def call(index: int) -> None:
            pipe(
                prompt=prompts[index],
                height=setting.size,
                width=setting.size,
                num_inference_steps=steps,
                guidance_scale=0.0,
                generator=torch.Generator(device=device).manual_seed(index),
            )

    times = []
    for index in range(warmup + calls):
        sync(device)
        started = time.perf_counter()
        call(index)
        sync(device)
        times.append(time.perf_counter() - started)
        log.info(
            "%s call %d: %.3f s%s", setting.name, index, times[-1], " (warm-up)" if index < warmup else ""
        )
    return statistics.median(times[warmup:]), compiled, attention, fused, times[0]


def unfuse(transformer) -> None:
    """Back to diffusers' own Z-Image attention processor and uncompiled blocks (fusing keeps to_q/k/v usable)."""
    from diffusers.models.transformers.transformer_z_image import ZSingleStreamAttnProcessor

    from synthsign_tui.engine.generators.diffusion import FusedZImageAttention

    for module in transformer.modules():
        if isinstance(getattr(module, "processor", None), FusedZImageAttention):
            module.set_processor(ZSingleStreamAttnProcessor())
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def markdown(results: list[Result], meta: dict) -> str:
    lines = [
        "# Z-Image-Turbo generation throughput",
        "",
        f"- device: {meta['device']}",
        f"- measured bf16 matmul peak: {meta['peak_tflops']:.3g} TFLOP/s",
        f"- dtype {meta['dtype']}, {meta['steps']} steps, guidance 0, random weights, "
        + (
            "toy configs (a check of the script, not a measurement)"
            if meta["toy"]
            else "the published configs"
        ),
        f"- median of {meta['calls']} calls after {meta['warmup']} warm-up calls per config; every image has its "
        "own prompt",
        f"- torch {meta['torch']}, diffusers {meta['diffusers']}, transformers {meta['transformers']}",
        f"- {meta['date']}: `{meta['command']}`",
        "",
        "| config | resolution | batch | compiled | attention | fused qkv | images/s | s/image | TFLOP/image "
        "| % of peak | peak GiB | first call s |",
        "| --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.error:
            lines.append(
                f"| {r.config} | {r.resolution} | {r.batch} | failed: {r.error} |  |  |  |  |  |  |  |  |"
            )
            continue
        lines.append(
            f"| {r.config} | {r.resolution} | {r.batch} | {'yes' if r.compiled else 'no'} | {r.attention} "
            f"| {'yes' if r.fused else 'no'} | {r.images_per_s:.3f} | {r.s_per_image:.3f} | {r.tflop_per_image:.3g} | {100 * r.peak_fraction:.1f} "
            f"| {r.memory_gib:.1f} | {r.first_call_s:.1f} |"
        )
    baseline = next((r for r in results if r.config == "notebook" and not r.error), None)
    done = [r for r in results if not r.error]
    if baseline and done:
        best = max(done, key=lambda r: r.images_per_s)
        lines += [
            "",
            f"Fastest: {best.config} at {best.resolution}, batch {best.batch}: {best.images_per_s:.2f} images/s, "
            f"{best.images_per_s / baseline.images_per_s:.1f}x the notebook's way.",
        ]
    lines += [
        "",
        "FLOPs per image (transformer only): `steps * (2 * P * T + 4 * L * T**2 * dim)`; see the script. "
        "'first call s' is the first warm-up call, which includes compilation where compiled.",
    ]
    return "\n".join(lines) + "\n"


def write_results(results: list[Result], meta: dict, args) -> None:
    """Rewrite the markdown and JSON outputs with every config measured so far."""
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(results, meta))
        log.info("wrote %s", args.out)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(
            json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=1) + "\n"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--toy", action="store_true", help="tiny random model on CPU: a quick check of the script"
    )
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --toy")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps (8 for Turbo)")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16], help="batch sizes for 'ours'")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per config (compilation)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per config")
    parser.add_argument("--out", type=Path, help="write the results as markdown to this file")
    parser.add_argument("--json", action="store_true", help="print the results as a final JSON line")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON to this file")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="CONFIG",
        help="run only these configs (notebook, notebook-512, ours-eager, ours, ours-1024, ours-unfused, ours-autotune), in "
        "the script's order",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import diffusers
    import torch
    import transformers

    device = args.device or ("cpu" if args.toy else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run on a GPU machine, or use --toy for the CPU check")
    dtype = torch.bfloat16
    big, small = (128, 64) if args.toy else (1024, 512)
    settings = [Setting("notebook", big, 1, False), Setting(f"notebook-{small}", small, 1, False)]
    settings.append(Setting("ours-eager", small, min(args.batches), True, compile=False))
    settings += [Setting("ours", small, batch, True) for batch in args.batches]
    settings.append(Setting(f"ours-{big}", big, 4, True))
    settings.append(Setting("ours-unfused", small, max(args.batches), True, fuse=False))
    settings.append(
        Setting("ours-autotune", small, max(args.batches), True, mode="max-autotune-no-cudagraphs")
    )
    if args.only:
        # --only takes the full-size names; --toy's configs are named after their smaller sizes
        renamed = {f"notebook-{small}": "notebook-512", f"ours-{big}": "ours-1024"}
        names = {renamed.get(s.name, s.name) for s in settings}
        if unknown := sorted(set(args.only) - names):
            parser.error(
                f"--only: unknown config {', '.join(unknown)}; choose from {', '.join(sorted(names))}"
            )
        settings = [s for s in settings if renamed.get(s.name, s.name) in args.only]
    needed = max(s.batch for s in settings) * (args.warmup + args.calls)
    prompts = road_sign_prompts(max(needed, 2000))

    peak = measure_peak_flops(device, dtype, *((512, 5) if args.toy else (8192, 100)))
    log.info("bf16 matmul peak on %s: %.1f TFLOP/s", device, peak / 1e12)
    pipe = build_pipeline(args.toy, device, dtype, prompts)

    meta = {
        "device": device_name(device),
        "peak_tflops": peak / 1e12,
        "dtype": "bfloat16",
        "steps": args.steps,
        "warmup": args.warmup,
        "calls": args.calls,
        "toy": args.toy,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
    }
    results: list[Result] = []
    for setting in settings:
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        try:
            seconds, compiled, attention, fused, first = run_setting(
                pipe, setting, prompts, args.steps, args.warmup, args.calls, device, dtype
            )
        except Exception as exc:  # one failing config must not cost the others' numbers
            log.exception("%s (batch %d) failed", setting.name, setting.batch)
            reason = (
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
            )
            results.append(
                Result(
                    setting.name,
                    f"{setting.size}x{setting.size}",
                    setting.batch,
                    False,
                    "",
                    False,
                    0,
                    0,
                    0,
                    0,
                    0,
                    error=reason.replace("|", "/"),
                )
            )
        else:
            used = prompts[: setting.batch * (args.warmup + args.calls)]
            flops = transformer_flops(pipe, setting.size, used, args.steps)
            per_image = seconds / setting.batch
            memory = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
            results.append(
                Result(
                    config=setting.name,
                    resolution=f"{setting.size}x{setting.size}",
                    batch=setting.batch,
                    compiled=compiled,
                    attention=attention,
                    fused=fused,
                    images_per_s=1 / per_image,
                    s_per_image=per_image,
                    tflop_per_image=flops / 1e12,
                    peak_fraction=flops / per_image / peak,
                    memory_gib=memory,
                    first_call_s=first,
                )
            )
        write_results(results, meta, args)

    print(markdown(results, meta))
    if args.json:
        print(json.dumps({**meta, "results": [asdict(r) for r in results]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
