"""aim.Audio and aim.Figure: round trips from every input form, bad input."""

from __future__ import annotations

import io
import wave

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import pytest

from aim.sdk.objects import Audio, Figure, base

from .conftest import round_trip


def wav_bytes(frames: np.ndarray, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1 if frames.ndim == 1 else frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.astype("<i2").tobytes())
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[int, int, np.ndarray]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getframerate(), w.getnchannels(), np.frombuffer(w.readframes(w.getnframes()), "<i2")


def test_audio_from_wav_bytes_keeps_them_and_reads_the_rate():
    data = wav_bytes(np.arange(-50, 50, dtype=np.int16), rate=8000)
    a = round_trip(Audio(data, format="WAV", caption="beep"))
    assert a.to_bytes() == data and a.get().read() == data
    assert (a.format, a.caption, a.rate) == ("wav", "beep", 8000)
    assert a.json() == {"caption": "beep", "format": "wav"}
    assert a._to_stored()[1] == {"caption": "beep", "format": "wav", "rate": 8000, "size": len(data)}
    rate, samples = a.to_numpy()
    assert rate == 8000 and samples.tolist() == list(range(-50, 50))
    assert Audio(io.BytesIO(data), "wav") == Audio(bytearray(data), "wav")


def test_audio_from_path_takes_the_format_from_the_extension(tmp_path):
    data = wav_bytes(np.zeros(10, dtype=np.int16))
    (tmp_path / "a.wav").write_bytes(data)
    a = round_trip(Audio(tmp_path / "a.wav"))
    assert a.format == "wav" and a.to_bytes() == data
    mp3 = b"ID3\x03\x00" + bytes(100)
    (tmp_path / "b.MP3").write_bytes(mp3)
    b = round_trip(Audio(str(tmp_path / "b.MP3"), rate=44100))
    assert (b.format, b.rate, b.to_bytes()) == ("mp3", 44100, mp3)
    (tmp_path / "c.bin").write_bytes(b"fLaC" + bytes(10))
    assert Audio(tmp_path / "c.bin", format="flac").format == "flac"


def test_audio_from_numpy_float_mono_and_int16_stereo():
    t = np.linspace(0, 1, 400)
    mono = np.sin(2 * np.pi * 5 * t)
    a = round_trip(Audio(mono, rate=16000))
    rate, channels, frames = read_wav(a.to_bytes())
    assert (rate, channels, a.rate, a.format) == (16000, 1, 16000, "wav")
    np.testing.assert_array_equal(frames, np.round(mono * 32767).astype(np.int16))
    stereo = np.random.default_rng(0).integers(-32768, 32767, (300, 2), dtype=np.int16)
    s = round_trip(Audio(stereo))
    rate, channels, frames = read_wav(s.to_bytes())
    assert (rate, channels) == (22500, 2)  # Aim's default rate for arrays
    np.testing.assert_array_equal(frames.reshape(-1, 2), stereo)
    np.testing.assert_array_equal(s.to_numpy()[1], stereo)


def test_audio_from_numpy_uint8_and_int32():
    u8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(Audio(u8).to_numpy()[1], u8)
    i32 = np.array([[-(2**31), 2**31 - 1], [0, 5]], dtype=np.int32)
    np.testing.assert_array_equal(Audio(i32).to_numpy()[1], i32)


def test_audio_bad_input():
    with pytest.raises(ValueError, match="one of"):
        Audio(b"OggS....", format="ogg")
    with pytest.raises(ValueError, match="required with bytes"):
        Audio(b"\xff\xfb\x90")
    with pytest.raises(ValueError, match="not a WAV"):
        Audio(b"garbage data", format="wav")
    with pytest.raises(ValueError, match="not a FLAC"):
        Audio(b"garbage data", format="flac")
    with pytest.raises(ValueError, match="no audio file"):
        Audio("/nonexistent/x.wav")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        Audio(np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        Audio(np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="int64"):
        Audio(np.array([1, 2], dtype=np.int64))
    with pytest.raises(ValueError, match="channels"):
        Audio(np.zeros((2, 1000)))
    with pytest.raises(ValueError, match="stored as wav"):
        Audio(np.zeros(10), format="mp3")
    with pytest.raises(ValueError, match="rate"):
        Audio(np.zeros(10), rate=-1)
    with pytest.raises(TypeError, match="list"):
        Audio([0.0, 0.1], format="wav")
    with pytest.raises(ValueError, match="empty"):
        Audio(b"", format="mp3")
    with pytest.raises(ValueError, match="reads WAV only"):
        Audio(b"ID3....", format="mp3").to_numpy()


def test_audio_unsupported_extension(tmp_path):
    (tmp_path / "a.ogg").write_bytes(b"OggS")
    with pytest.raises(ValueError, match="'ogg'"):
        Audio(tmp_path / "a.ogg")


def test_audio_too_big(monkeypatch):
    monkeypatch.setattr(base, "MAX_BLOB_BYTES", 1000)
    with pytest.raises(ValueError, match="limit"):
        Audio(np.zeros(1000, dtype=np.int16))


def test_figure_from_plotly():
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 1, 2], name="s"))
    f = round_trip(Figure(fig))
    assert f.data == fig.to_json()
    back = f.to_plotly_figure()
    assert back.data[0].name == "s" and list(back.data[0].y) == [4, 1, 2]
    assert f.json()["source"] == "plotly" and f.json()["format"] == "raw_json"
    assert Figure.compress is True and Figure.kind == "figure"


def test_figure_from_matplotlib():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [4, 5, 6])
    f = round_trip(Figure(fig))
    plt.close(fig)
    trace = f.to_plotly_figure().data[0]
    assert list(trace.x) == [1, 2, 3] and list(trace.y) == [4, 5, 6]


def test_figure_from_matplotlib_that_plotly_cannot_convert(monkeypatch):
    import plotly.tools

    def boom(fig):
        raise AttributeError("no such thing")

    monkeypatch.setattr(plotly.tools, "mpl_to_plotly", boom)
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match=r"pass a plotly figure, or track it as aim\.Image"):
        Figure(fig)
    plt.close(fig)


def test_figure_bad_input_and_size(monkeypatch):
    with pytest.raises(TypeError, match="dict"):
        Figure({"data": []})
    monkeypatch.setattr(base, "MAX_BLOB_BYTES", 10)
    with pytest.raises(ValueError, match="limit"):
        Figure(go.Figure())
