"""aim.Image: every input form round-trips; bad input raises at the call."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image as PILImage

from aim.sdk.objects import Image, base, convert_to_aim_image_list

from .conftest import round_trip

RNG = np.random.default_rng(0)


def pixels(img: Image) -> np.ndarray:
    return np.asarray(img.to_pil_image())


def test_pil_image_round_trips_pixel_exact():
    arr = RNG.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    img = Image(PILImage.fromarray(arr), caption="cat")
    back = round_trip(img)
    assert (back.width, back.height, back.mode, back.format, back.caption) == (9, 7, "RGB", "png", "cat")
    assert back.json() == {"caption": "cat", "format": "png", "width": 9, "height": 7}
    np.testing.assert_array_equal(pixels(back), arr)
    assert img._to_stored()[1] == {"caption": "cat", "format": "png", "width": 9, "height": 7, "mode": "RGB"}
    assert Image.compress is False and Image.kind == "image"


@pytest.mark.parametrize("shape, mode",
                         [((6, 8), "L"), ((6, 8, 1), "L"), ((6, 8, 3), "RGB"), ((6, 8, 4), "RGBA")])
def test_numpy_hw_hwc_uint8(shape, mode):
    arr = RNG.integers(0, 256, shape, dtype=np.uint8)
    img = round_trip(Image(arr))
    assert (img.width, img.height, img.mode) == (8, 6, mode)
    np.testing.assert_array_equal(pixels(img), arr.reshape(pixels(img).shape))


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_numpy_chw_is_transposed(channels, mode):
    chw = RNG.integers(0, 256, (channels, 6, 8), dtype=np.uint8)
    img = round_trip(Image(chw))
    assert (img.width, img.height, img.mode) == (8, 6, mode)
    expected = np.transpose(chw, (1, 2, 0))
    np.testing.assert_array_equal(pixels(img), expected[:, :, 0] if channels == 1 else expected)


def test_numpy_float_in_unit_range_is_scaled_as_aim_does():
    arr = RNG.random((5, 4, 3))
    arr[0, 0] = [0.0, 1.0, 0.5]
    img = round_trip(Image(arr))
    np.testing.assert_array_equal(pixels(img), (arr * 255).astype(np.uint8))
    assert pixels(img)[0, 0].tolist() == [0, 255, 127]


def test_numpy_float_out_of_range_or_nan_is_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Image(np.full((3, 3), 2.0))
    with pytest.raises(ValueError, match="NaN"):
        Image(np.full((3, 3), np.nan))


def test_numpy_bool_and_uint16():
    mask = RNG.random((4, 5)) > 0.5
    np.testing.assert_array_equal(pixels(round_trip(Image(mask))), mask.astype(np.uint8) * 255)
    deep = RNG.integers(0, 65536, (4, 5), dtype=np.uint16)
    img = round_trip(Image(deep))  # PIL keeps 16-bit greyscale in PNG
    np.testing.assert_array_equal(pixels(img).astype(np.uint16), deep)


def test_torch_tensor_chw_float_and_uint8():
    t = torch.rand(3, 6, 8, requires_grad=True)
    img = round_trip(Image(t))
    assert (img.width, img.height, img.mode) == (8, 6, "RGB")
    expected = (t.detach().numpy().astype(np.float64) * 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(pixels(img), expected)
    grey = torch.randint(0, 256, (1, 4, 5), dtype=torch.uint8)
    np.testing.assert_array_equal(pixels(round_trip(Image(grey))), grey[0].numpy())
    hw = torch.randint(0, 256, (4, 5), dtype=torch.uint8)
    np.testing.assert_array_equal(pixels(Image(hw)), hw.numpy())


def test_torch_tensor_with_wrong_channels_is_refused():
    with pytest.raises(ValueError, match=r"\(5, 4, 3\)"):
        Image(torch.zeros(5, 4, 3))  # tensors are CHW, as in Aim
    with pytest.raises(ValueError, match="2-D"):
        Image(torch.zeros(1, 3, 4, 4))


def test_matplotlib_figure_is_rendered_to_png():
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1], [1, 0])
    img = round_trip(Image(fig))
    plt.close(fig)
    assert (img.width, img.height, img.format) == (100, 75, "png")


def test_path_str_and_pathlib(tmp_path):
    arr = RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    PILImage.fromarray(arr).save(tmp_path / "a.png")
    for p in (tmp_path / "a.png", str(tmp_path / "a.png")):
        img = round_trip(Image(p))
        np.testing.assert_array_equal(pixels(img), arr)
    PILImage.fromarray(arr).save(tmp_path / "b.jpg", quality=95)
    assert Image(tmp_path / "b.jpg").format == "jpeg"  # the source's format by default, as in Aim
    assert Image(tmp_path / "b.jpg", format="PNG").format == "png"


def test_bad_path_and_non_image_file(tmp_path):
    with pytest.raises(ValueError, match="no image file"):
        Image(str(tmp_path / "missing.png"))
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        Image(tmp_path / "x.png")


@pytest.mark.parametrize("fmt", ["jpeg", "JPEG", "jpg", "Jpg"])
def test_jpeg_is_lossy_but_close(fmt):
    arr = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))
    rgb = np.stack([arr, arr.T, 255 - arr], axis=2)
    img = round_trip(Image(rgb, format=fmt, quality=95))
    assert (img.format, img.mode, img.size) == ("jpeg", "RGB", (32, 32))
    assert img.to_pil_image().format == "JPEG"
    assert np.abs(pixels(img).astype(int) - rgb).mean() < 4


def test_jpeg_quality_and_rgba_flattened_on_white():
    arr = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    small, big = Image(arr, format="jpeg", quality=10), Image(arr, format="jpeg", quality=95)
    assert len(small._to_stored()[0]) < len(big._to_stored()[0])
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black
    img = Image(rgba, format="jpeg")
    assert img.mode == "RGB" and pixels(img).min() > 240


def test_bad_inputs_raise_precisely():
    with pytest.raises(ValueError, match=r"\(5, 7, 9\)"):
        Image(np.zeros((5, 7, 9), dtype=np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        Image(np.zeros((2, 3, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="no image file"):
        Image("a cat")  # a string where an image is expected: taken as a path, as in Aim
    with pytest.raises(TypeError, match="list"):
        Image([[0, 1], [1, 0]])
    with pytest.raises(TypeError, match="complex"):
        Image(np.zeros((3, 3), dtype=complex))
    with pytest.raises(ValueError, match="gif"):
        Image(np.zeros((3, 3), dtype=np.uint8), format="gif")
    with pytest.raises(TypeError, match="caption"):
        Image(np.zeros((3, 3), dtype=np.uint8), caption=3)  # type: ignore[arg-type]


def test_too_big_is_refused(monkeypatch):
    monkeypatch.setattr(base, "MAX_BLOB_BYTES", 100)
    with pytest.raises(ValueError, match="limit"):
        Image(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))


def test_caption_setter_and_equality():
    arr = np.zeros((2, 2), dtype=np.uint8)
    a, b = Image(arr, "x"), Image(arr, "x")
    assert a == b
    b.caption = "y"
    assert a != b and b.json()["caption"] == "y"


def test_animated_pil_keeps_frames():
    frames = [PILImage.new("L", (4, 4), v) for v in (0, 128, 255)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    gif = PILImage.open(io.BytesIO(buf.getvalue()))
    img = round_trip(Image(gif))
    assert img.format == "png" and getattr(img.to_pil_image(), "n_frames", 1) == 3


def test_convert_to_aim_image_list():
    batch = torch.rand(3, 1, 4, 4)
    imgs = convert_to_aim_image_list(batch, labels=torch.tensor([7, 8]))
    assert [i.caption for i in imgs] == ["7", "8", ""]
    assert [i.caption for i in convert_to_aim_image_list(batch[:2], ["a", "b"])] == ["a", "b"]
    assert [i.caption for i in convert_to_aim_image_list(batch[:1])] == [""]


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4]))))
def test_property_uint8_hwc_png_round_trip_is_pixel_exact(arr):
    img = round_trip(Image(arr))
    assert (img.height, img.width) == arr.shape[:2]
    np.testing.assert_array_equal(pixels(img).reshape(arr.shape), arr)


def test_animated_gif_file_keeps_frames(tmp_path):
    frames = [PILImage.new("L", (4, 4), v) for v in (0, 255)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    img = round_trip(Image(tmp_path / "a.gif"))
    assert img.format == "png" and getattr(img.to_pil_image(), "n_frames", 1) == 2
