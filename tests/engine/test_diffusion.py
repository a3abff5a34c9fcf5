"""DiffusersGenerator on a tiny random-weight Z-Image pipeline loaded from disk, as users load the real one."""

from dataclasses import dataclass

import numpy as np
import pytest

from synthsign_tui.config import GeneratorConfig
from synthsign_tui.engine.generators.diffusion import DiffusersGenerator
from synthsign_tui.errors import SynthSignError


@dataclass
class Job:
    prompt: str
    seed: int


PROMPTS = [
    "a stop sign on the road",
    "a warning sign on the road, rain, dusk, photo",
    "a stop sign on the road",
]


def make_cfg(model: str, **overrides) -> GeneratorConfig:
    settings = {"kind": "diffusers", "model": model, "height": 64, "width": 48, "steps": 2, "batch_size": 3}
    return GeneratorConfig(**(settings | overrides))


@pytest.fixture(scope="module")
def generator(tiny_zimage_dir):
    return DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))


def pixels(results) -> list[np.ndarray]:
    return [np.asarray(image, dtype=np.int16) for image, _ in results]


def test_batch_has_the_configured_size_and_mode(generator):
    assert generator.device == "cpu"
    results = generator.generate([Job(p, seed) for seed, p in enumerate(PROMPTS)])
    assert len(results) == 3
    for image, extra in results:
        assert image.size == (48, 64)
        assert image.mode == "RGB"
        assert isinstance(extra, dict)


def test_same_seed_same_pixels_across_instances(generator, tiny_zimage_dir):
    jobs = [Job(PROMPTS[0], 7), Job(PROMPTS[1], 8)]
    again = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))
    first, second = pixels(generator.generate(jobs)), pixels(again.generate(jobs))
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


def test_different_seeds_differ(generator):
    a, b = pixels(generator.generate([Job(PROMPTS[0], 1), Job(PROMPTS[0], 2)]))
    assert np.abs(a - b).mean() > 1.0


def test_batch_equals_single_images(tiny_zimage_dir):
    batched = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))
    single = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))
    jobs = [Job(p, 100 + i) for i, p in enumerate(PROMPTS)]
    together = pixels(batched.generate(jobs))
    alone = [pixels(single.generate([job]))[0] for job in jobs]
    for a, b in zip(together, alone, strict=True):
        # Batched matmuls and padded captions may round differently: allow one grey level.
        assert np.abs(a - b).max() <= 1


def test_text_encoder_runs_once_per_distinct_prompt(tiny_zimage_dir):
    gen = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))
    gen.generate([Job(p, i) for i, p in enumerate(PROMPTS)])
    gen.generate([Job(PROMPTS[1], 5)])
    assert gen.text_encoder_calls == 1


def test_guidance_uses_the_cached_negative_prompt(tiny_zimage_dir):
    gen = DiffusersGenerator(make_cfg(str(tiny_zimage_dir), guidance_scale=2.0, batch_size=2))
    a = pixels(gen.generate([Job(PROMPTS[0], 3), Job(PROMPTS[1], 4)]))
    b = pixels(gen.generate([Job(PROMPTS[0], 3)]))
    assert gen.text_encoder_calls == 1
    assert np.abs(a[0] - b[0]).max() <= 1


def test_prompt_list_is_not_mutated(tiny_zimage_dir):
    gen = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))
    gen.caches_prompts = False  # the plain path: prompts go straight to the pipeline
    jobs = [Job(p, i) for i, p in enumerate(PROMPTS)]
    gen.generate(jobs)
    assert [job.prompt for job in jobs] == PROMPTS
    gen.caches_prompts = True
    gen.generate(jobs)
    assert [job.prompt for job in jobs] == PROMPTS


def test_too_many_jobs_is_an_error(generator):
    with pytest.raises(ValueError, match="1 to 3 jobs"):
        generator.generate([Job("x", i) for i in range(4)])


def test_size_not_a_multiple_names_the_allowed_multiple(tiny_zimage_dir):
    with pytest.raises(SynthSignError, match="multiples of 4 for ZImagePipeline"):
        DiffusersGenerator(make_cfg(str(tiny_zimage_dir), height=66))


def assert_helpful(exc: SynthSignError, model: str) -> None:
    text = str(exc)
    assert model in text
    for way_out in ("machine with internet", "generator.model", "HF_HOME", "procedural"):
        assert way_out in text
    for noise in ("Traceback", "HTTPError", "local_files_only"):
        assert noise not in text
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def unchecked_cfg(model: str, **overrides) -> GeneratorConfig:
    """A config the validators would refuse, for the generator's own checks (a saved config whose folder
    was deleted since, say)."""
    settings = {"kind": "diffusers", "model": model, "height": 64, "width": 48, "steps": 2, "batch_size": 3}
    return GeneratorConfig.model_construct(**(GeneratorConfig().model_dump() | settings | overrides))


def test_missing_folder_is_a_helpful_error(tmp_path):
    model = str(tmp_path / "no-such-model")
    with pytest.raises(ValueError, match=f"diffusers model folder '{model}' does not exist"):
        make_cfg(model)  # the config refuses it before a run is recorded
    with pytest.raises(SynthSignError, match="does not exist") as info:
        DiffusersGenerator(unchecked_cfg(model))
    assert_helpful(info.value, model)


def test_folder_without_model_index_is_a_helpful_error(tmp_path):
    with pytest.raises(ValueError, match="has no model_index.json"):
        make_cfg(str(tmp_path))
    with pytest.raises(SynthSignError, match="no model_index.json") as info:
        DiffusersGenerator(unchecked_cfg(str(tmp_path)))
    assert_helpful(info.value, str(tmp_path))


def test_unknown_hub_id_offline_is_a_helpful_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    model = "synthsign-tests/no-such-model"
    with pytest.raises(SynthSignError, match="not in the local Hugging Face cache") as info:
        DiffusersGenerator(make_cfg(model))
    assert_helpful(info.value, model)


@pytest.mark.parametrize("device", ["not-a-device", "cuda:64"])
def test_unusable_device_is_an_error(tiny_zimage_dir, device):
    with pytest.raises(SynthSignError, match="generator.device"):
        DiffusersGenerator(unchecked_cfg(str(tiny_zimage_dir), device=device))


def test_relative_folder_is_found_from_the_working_folder(tiny_zimage_dir, monkeypatch):
    monkeypatch.chdir(tiny_zimage_dir.parent)
    gen = DiffusersGenerator(make_cfg(tiny_zimage_dir.name, batch_size=1))
    image, _ = gen.generate([Job(PROMPTS[0], 0)])[0]
    assert image.size == (48, 64)


def test_fused_attention_computes_what_diffusers_computes(tiny_zimage_dir):
    """The fused q/k/v + real-arithmetic rotary processor gives diffusers' own images, without extra weights."""
    import torch

    from synthsign_tui.engine.generators.diffusion import FusedZImageAttention

    fused = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)))
    plain = DiffusersGenerator(make_cfg(str(tiny_zimage_dir)), fuse=False)
    attentions = [m for m in fused.denoiser.modules() if hasattr(m, "processor")]
    assert fused.fused_attentions == len(attentions) > 0 and plain.fused_attentions == 0
    assert all(isinstance(m.processor, FusedZImageAttention) for m in attentions)
    assert not any(
        isinstance(m.processor, FusedZImageAttention)
        for m in plain.denoiser.modules()
        if hasattr(m, "processor")
    )
    # to_q/to_k/to_v are views of the fused weight: the same numbers, no second copy
    first = attentions[0]
    assert first.to_k.weight.data_ptr() == first.to_qkv.weight[first.to_q.weight.shape[0] :].data_ptr()
    assert torch.equal(
        first.to_qkv.weight, torch.cat([first.to_q.weight, first.to_k.weight, first.to_v.weight])
    )
    jobs = [Job(p, 30 + i) for i, p in enumerate(PROMPTS)]
    for a, b in zip(pixels(fused.generate(jobs)), pixels(plain.generate(jobs)), strict=True):
        assert np.abs(a - b).max() <= 1
