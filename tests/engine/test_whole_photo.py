"""Whole-photo decisions: the best box's best class, or "no sign found" below the threshold."""

import pytest
import torch

from synthsign_tui.engine.stages.evaluate import evaluation_mode
from synthsign_tui.engine.stages.whole_photo import box_crops, decide

CLASSES = ["stop", "warning", "_background"]
BOXES = [{"bbox": [10.0, 10.0, 20.0, 20.0], "score": 0.9}, {"bbox": [100.0, 50.0, 30.0, 30.0], "score": 0.4}]


def test_the_box_most_likely_a_sign_decides_even_when_the_localiser_ranked_it_second():
    probs = [
        torch.tensor([0.1, 0.1, 0.8]),
        torch.tensor([0.05, 0.9, 0.05]),
    ]  # box 1: background; box 2: warning
    answer, boxes, found, best = decide(BOXES, probs, CLASSES, threshold=0.3)
    assert found and best == pytest.approx(0.9 * 0.95)
    assert [b["bbox"] for b in boxes] == [BOXES[1]["bbox"], BOXES[0]["bbox"]]
    assert boxes[0]["chosen"] and not boxes[1]["chosen"] and boxes[0]["predicted"] == "warning"
    torch.testing.assert_close(answer, torch.tensor([0.05, 0.9]) / 0.95)


def test_no_sign_found_below_the_threshold_keeps_the_boxes_but_chooses_none():
    probs = [torch.tensor([0.2, 0.1, 0.7]), torch.tensor([0.1, 0.3, 0.6])]
    _, boxes, found, best = decide(BOXES, probs, CLASSES, threshold=0.3)
    assert not found and best < 0.3 and len(boxes) == 2 and not any(b["chosen"] for b in boxes)


def test_box_crops_are_square_enlarged_and_inside_the_photo():
    photo = torch.zeros(3, 100, 200, dtype=torch.uint8)
    photo[:, 40:60, 190:200] = 255  # a sign cut by the right edge
    (crop,) = box_crops(photo, [{"bbox": [190.0, 40.0, 10.0, 20.0], "score": 1.0}], 32)
    assert crop.shape == (3, 32, 32)
    assert crop[:, 16, -1].min() == 255 and crop[:, 16, 0].max() == 0  # shifted inside, the sign at its right


def test_the_evaluation_mode_names_every_mode_used():
    assert evaluation_mode(["whole-photo", "single"], "flip") == "whole-photo+single+flip"
    assert evaluation_mode(["multicrop"], "flip") == "multicrop"
    assert evaluation_mode([], "none") == "single"
