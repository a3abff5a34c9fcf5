"""Tests for the procedural sign generator: real renders at small sizes, no mocks."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from synthsign_tui.engine.generators.procedural import DESIGNS, ProceduralGenerator, render
from synthsign_tui.engine.generators.procedural.scenes import scene_window

SIGNS = ["stop", "warning-triangle", "warning-diamond"]


def _bytes(image) -> bytes:
    return image.tobytes()


def test_designs_name_the_preset_classes_and_background():
    assert {"stop", "warning-triangle", "warning-diamond", "none"} <= set(DESIGNS)
    assert all(isinstance(text, str) and text for text in DESIGNS.values())


@pytest.mark.parametrize("scene", [False, True])
@pytest.mark.parametrize("design", list(DESIGNS))
def test_same_seed_gives_identical_bytes(design, scene):
    first, first_attrs = render([design], seed=7, height=48, width=64, scene=scene)
    second, second_attrs = render([design], seed=7, height=48, width=64, scene=scene)
    assert _bytes(first) == _bytes(second)
    assert first_attrs == second_attrs


def test_different_seeds_give_different_images():
    images = {_bytes(render(SIGNS, seed=seed, height=32, width=32)[0]) for seed in range(12)}
    assert len(images) == 12


@pytest.mark.parametrize(("width", "height"), [(64, 64), (128, 128), (71, 33), (8, 8)])
def test_output_is_rgb_of_exact_size(width, height):
    for seed in range(6):
        image, _ = render(list(DESIGNS), seed=seed, height=height, width=width)
        assert image.mode == "RGB"
        assert image.size == (width, height)


def test_every_design_renders_with_flat_json_attributes_and_the_same_keys():
    keys = None
    for design in DESIGNS:
        for scene in (False, True):
            for seed in range(4):
                _, attrs = render([design], seed=seed, height=40, width=40, scene=scene)
                assert attrs["design"] == design
                assert (
                    attrs["crop"] == "scene"
                    if scene
                    else attrs["crop"] in ("tight", "margin", "context", "partial")
                )
                assert all(isinstance(value, str | int | float | bool) for value in attrs.values())
                json.dumps(attrs)
                keys = keys or set(attrs)
                assert set(attrs) == keys


def test_pick_from_several_designs_uses_them_all():
    drawn = {render(list(DESIGNS), seed=seed, height=16, width=16)[1]["design"] for seed in range(40)}
    assert drawn == set(DESIGNS)


def test_unknown_design_raises_and_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown design 'yield'") as error:
        render(["stop", "yield"], seed=0, height=32, width=32)
    assert all(name in str(error.value) for name in DESIGNS)


def test_empty_draw_list_raises():
    with pytest.raises(ValueError, match="at least one"):
        render([], seed=0, height=32, width=32)


def test_greyscale_images_have_equal_channels_and_often_red_heavy_weights():
    greys = []
    for seed in range(120):
        image, attrs = render(["stop"], seed=seed, height=24, width=24)
        pixels = np.asarray(image)
        if attrs["greyscale"]:
            greys.append(attrs["grey_red"])
            assert np.array_equal(pixels[..., 0], pixels[..., 1])
            assert np.array_equal(pixels[..., 1], pixels[..., 2])
    assert len(greys) >= 10
    assert sum(red > 0.5 for red in greys) >= len(greys) / 3


def test_crops_come_tight_with_a_margin_in_context_and_partial():
    crops = [render(SIGNS, seed=seed, height=24, width=24)[1] for seed in range(100)]
    assert {attrs["crop"] for attrs in crops} == {"tight", "margin", "context", "partial"}
    bounds = {"tight": (0.85, 1.1), "margin": (0.55, 0.9), "context": (0.15, 0.6), "partial": (1.1, 1.85)}
    for attrs in crops:
        low, high = bounds[attrs["crop"]]
        assert low < attrs["sign_fraction"] <= high
        assert (attrs["background"] == "road") == (attrs["crop"] == "context")


def test_background_crops_are_often_road_scene_windows():
    crops = [render(["none"], seed=seed, height=32, width=32)[1] for seed in range(40)]
    assert sum(attrs["crop"] == "context" for attrs in crops) >= 10
    assert all(attrs["sign_fraction"] == 0.0 for attrs in crops)


def test_scene_window_has_the_asked_size_and_is_deterministic():
    first = scene_window(np.random.default_rng(5), 40, 30)
    assert first.shape == (30, 40, 3)
    assert np.array_equal(first, scene_window(np.random.default_rng(5), 40, 30))
    assert first.std() > 1  # not a flat colour


def test_scene_puts_a_small_sign_inside_the_frame():
    for seed in range(6):
        _, attrs = render(["stop"], seed=seed, height=240, width=320, scene=True)
        assert 0.02 < attrs["sign_fraction"] <= 0.21
        x0, y0, x1, y1 = map(int, attrs["sign_box"].split(","))
        assert 0 <= x0 < x1 <= 320 and y1 > 0 and y0 < 240


def test_none_draws_no_sign():
    for scene in (False, True):
        for seed in range(10):
            _, attrs = render(["none"], seed=seed, height=48, width=48, scene=scene)
            assert attrs["sign_fraction"] == 0.0
            assert attrs["sign_box"] == ""
            assert attrs["pictogram"] == ""


def test_stop_ahead_diamond_is_drawn_as_a_warning():
    pictograms = {
        render(["warning-diamond"], seed=seed, height=16, width=16)[1]["pictogram"] for seed in range(60)
    }
    assert {"stop-ahead", "signal-ahead", "pedestrian"} <= pictograms


def test_generator_renders_jobs_in_order_like_render():
    generator = ProceduralGenerator(SimpleNamespace(height=36, width=52, model="ignored"))
    jobs = [
        SimpleNamespace(draw=["stop"], seed=3, attributes={}),
        SimpleNamespace(draw=["warning-triangle", "none"], seed=4, attributes={"scene": True}),
    ]
    results = generator.generate(jobs)
    assert [attrs["crop"] for _, attrs in results][1] == "scene"
    for job, (image, attrs) in zip(jobs, results, strict=True):
        expected, expected_attrs = render(job.draw, seed=job.seed, height=36, width=52, **job.attributes)
        assert image.size == (52, 36)
        assert _bytes(image) == _bytes(expected)
        assert attrs == expected_attrs


def test_some_warning_triangles_are_inverted_yield_signs():
    pictograms = [
        render(["warning-triangle"], seed=seed, height=24, width=24)[1]["pictogram"] for seed in range(80)
    ]
    assert 2 <= pictograms.count("yield") <= 30


def test_camera_sometimes_underexposes_strongly():
    exposures = [render(SIGNS, seed=seed, height=16, width=16)[1]["exposure"] for seed in range(60)]
    assert min(exposures) < 0.5
    assert max(exposures) > 1.0


def test_backgrounds_include_bare_branches_and_road_windows():
    kinds = {render(["none"], seed=seed, height=24, width=24)[1]["background"] for seed in range(80)}
    assert {"branches", "road"} <= kinds


def test_ahead_signs_mostly_have_the_arrow_above_the_symbol():
    from synthsign_tui.engine.generators.procedural.designs import _ahead_layout

    rng = np.random.default_rng(0)
    heights = [_ahead_layout(rng)[0] for _ in range(200)]
    below = sum(h > 0 for h in heights)  # symbol below the centre, arrow above it: the MUTCD layout
    assert 150 <= below < 200


@pytest.mark.parametrize(("width", "height"), [(64, 64), (96, 40), (20, 20)])
def test_many_seeds_render_without_error(width, height):
    for seed in range(300):
        render(list(DESIGNS), seed=seed, height=height, width=width)


def test_background_crops_show_sign_backs_and_no_turn_signs_as_distractors():
    kinds = [render(["none"], seed=seed, height=32, width=32)[1]["distractor"] for seed in range(300)]
    assert {"sign-back", "no-turn"} <= set(kinds)


def test_sign_backs_are_grey_metal_with_a_transparent_surround():
    from synthsign_tui.engine.generators.procedural.scenes import distractor

    rng, backs = np.random.default_rng(0), []
    while len(backs) < 10:
        image, kind = distractor(rng)
        if kind == "sign-back":
            backs.append(np.asarray(image, np.float32))
    for back in backs:
        opaque = back[back[..., 3] == 255][:, :3]
        assert len(opaque) > 0.2 * back.shape[0] * back.shape[1]
        assert np.abs(opaque - opaque.mean(axis=1, keepdims=True)).max() < 40  # no colour, only grey
        assert back[0, 0, 3] == 0 or back[back.shape[0] // 2, 0, 3] == 0  # a shape, not a full square


def test_some_triangles_are_mounted_on_a_backing_board_and_nothing_else_is():
    boards = [render(["warning-triangle"], seed=seed, height=24, width=24)[1]["board"] for seed in range(200)]
    assert 5 <= sum(boards) <= 60
    others = [render(["stop", "warning-diamond", "none"], seed=s, height=24, width=24)[1] for s in range(100)]
    assert not any(attrs["board"] for attrs in others)


def test_backgrounds_include_dead_leaves_and_natural_spectrum_noise():
    kinds = {render(["none"], seed=seed, height=24, width=24)[1]["background"] for seed in range(200)}
    assert {"leaves", "spectral"} <= kinds


def test_spectral_background_has_a_falling_power_spectrum_like_photos():
    from synthsign_tui.engine.generators.procedural.scenes import _spectral

    image = _spectral(np.random.default_rng(0), 128, 128).mean(axis=-1)
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
    low, high = power[(f > 0.01) & (f < 0.05)].mean(), power[(f > 0.25) & (f < 0.5)].mean()
    assert low > 100 * high  # white noise would give about 1


def test_dead_leaves_cover_the_frame_with_shapes_of_many_sizes():
    from synthsign_tui.engine.generators.procedural.scenes import _dead_leaves

    image = _dead_leaves(np.random.default_rng(0), 96, 96)
    assert image.shape == (96, 96, 3)
    colours = {tuple(px) for px in image.reshape(-1, 3).astype(int)}
    assert len(colours) > 40  # many shapes, not one flat fill
