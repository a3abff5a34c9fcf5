"""The one safe image loader: regular files only, size limits read from the header before decoding, every
failure a short reason; fuzzed with random bytes and random headers claiming huge sizes."""

from __future__ import annotations

import io
import os
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pngs import png_header

from synthsign_tui.imagefiles import MAX_ASPECT, MAX_PIXELS, UnreadableImage, open_image


def good_png(width: int = 24, height: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def reason(path) -> str:
    with pytest.raises(UnreadableImage) as info:
        open_image(path)
    return str(info.value)


def test_a_good_image_decodes_to_rgb(tmp_path):
    (tmp_path / "a.png").write_bytes(good_png())
    Image.new("L", (10, 12)).save(tmp_path / "grey.jpg")
    assert open_image(tmp_path / "a.png").size == (24, 16)
    im = open_image(tmp_path / "grey.jpg")
    assert im.mode == "RGB" and im.size == (10, 12)


def test_sizes_are_refused_from_the_header_before_decoding(tmp_path):
    bomb = png_header(20_000, 20_000, b"\x00" * 48_000)  # 48 KB that claims 400 million pixels
    (tmp_path / "bomb.png").write_bytes(bomb)
    (tmp_path / "strip.png").write_bytes(png_header(1, 100_000))
    (tmp_path / "just-over.png").write_bytes(png_header(8001, 8000))
    assert len(bomb) < 60_000
    started = time.perf_counter()
    assert "pixels" in reason(tmp_path / "bomb.png")
    assert f"longer than {MAX_ASPECT:g}:1" in reason(tmp_path / "strip.png")
    assert f"over the limit of {MAX_PIXELS:,} pixels" in reason(tmp_path / "just-over.png")
    assert time.perf_counter() - started < 1.0  # nothing was decoded


def test_empty_truncated_and_non_image_files_give_reasons(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(good_png(64, 64)[:80])
    (tmp_path / "text.jpg").write_text("not a photo")
    assert reason(tmp_path / "empty.png") == "an empty file (0 bytes)"
    assert "cannot decode" in reason(tmp_path / "truncated.png") or "not an image" in reason(
        tmp_path / "truncated.png"
    )
    assert reason(tmp_path / "text.jpg").startswith("not an image this program reads")
    assert reason(tmp_path / "missing.png") == "cannot open: No such file or directory"


def test_only_regular_files_are_opened_and_a_fifo_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "folder.png").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.png"))
    outcome: list[str] = []
    reader = threading.Thread(target=lambda: outcome.append(reason(tmp_path / "pipe.png")), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert outcome == ["a named pipe (FIFO), not an image file"]
    assert reason(tmp_path / "folder.png") == "a folder, not an image file"
    assert reason(tmp_path / "sock.png").startswith("cannot open")  # nor a socket
    assert reason("/dev/zero") == "a character device, not an image file"
    server.close()


FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_decode_or_give_a_reason(tmp_path, data):
    path = tmp_path / "random.png"
    path.write_bytes(data)
    try:
        im = open_image(path)
    except UnreadableImage as exc:
        assert str(exc) and len(str(exc)) <= 200
    else:
        assert im.mode == "RGB" and im.width * im.height <= MAX_PIXELS


@FUZZ
@given(
    width=st.integers(0, 2**31 - 1),
    height=st.integers(0, 2**31 - 1),
    payload=st.binary(max_size=512),
    cut=st.integers(0, 200),
)
def test_random_png_headers_never_decode_more_than_the_limits(tmp_path, width, height, payload, cut):
    data = png_header(width, height, payload)
    path = tmp_path / "header.png"
    path.write_bytes(data[: len(data) - cut])
    try:
        im = open_image(path)
    except UnreadableImage:
        return
    assert im.width * im.height <= MAX_PIXELS
    assert max(im.size) / min(im.size) <= MAX_ASPECT
