"""Synthesiser and audio files (multigan.io.audio)."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest
import torch

from multigan.io import audio, midi


def _roll() -> tuple[np.ndarray, np.ndarray]:
    roll = np.zeros((8, 128), bool)
    onsets = np.zeros_like(roll)
    roll[:, 60] = onsets[[0, 4], 60] = True
    roll[2:6, [64, 67]] = True
    return roll, onsets


def test_duration_and_peak() -> None:
    roll, onsets = _roll()
    wav = audio.synthesize(roll, onsets=onsets, sample_rate=16000)
    assert wav.ndim == 1 and wav.dtype == torch.float32
    assert len(wav) == round((1.0 + audio.RELEASE_S) * 16000)  # 8 steps = 2 beats = 1 s at 120 bpm
    assert 0 < wav.abs().max() <= 0.9 + 1e-6
    assert wav[:3 * 16000 // 4].abs().max() > 0.05
    assert audio.synthesize(roll, waveform="sine", tempo=60.0, sample_rate=8000).shape == (round(2.2 * 8000),)


def test_onsets_change_the_sound() -> None:
    roll, onsets = _roll()
    assert not torch.allclose(audio.synthesize(roll, onsets=onsets), audio.synthesize(roll))


def test_silence_is_zero() -> None:
    wav = audio.synthesize(np.zeros((8, 128)))
    assert len(wav) > 0 and not wav.any()


def test_midi_input(tmp_path) -> None:
    roll, onsets = _roll()
    path = tmp_path / "r.mid"
    midi.pianoroll_to_midi(roll, path, onsets=onsets)
    wav = audio.synthesize(path, sample_rate=16000)
    assert len(wav) == round(1.2 * 16000) and wav.abs().max() > 0


def test_write_wav_and_flac(tmp_path) -> None:
    wav = audio.synthesize(_roll()[0], sample_rate=22050)
    path = audio.write_audio(wav, tmp_path / "a.wav", sample_rate=22050)
    with wave.open(str(path)) as f:
        assert f.getnframes() / f.getframerate() == pytest.approx(1.2, abs=1e-3)
        assert (f.getnchannels(), f.getsampwidth()) == (1, 2)
    back, rate = audio.read_audio(path)
    assert rate == 22050 and back.shape == (1, len(wav))
    assert (back[0] - wav).abs().max() < 1e-3
    stereo = torch.stack([wav, -wav]).numpy()
    back, rate = audio.read_audio(audio.write_audio(stereo, tmp_path / "a.flac", sample_rate=22050))
    assert back.shape == (2, len(wav)) and np.abs(back.numpy() - stereo).max() < 1e-3


def test_resample_and_mel() -> None:
    wav = torch.randn(16000).clamp(-1, 1)
    assert audio.resample(wav, 16000, 8000).shape == (8000,)
    assert audio.mel_spectrogram(wav, 16000, n_mels=32).shape[0] == 32
    t = torch.arange(16000) / 16000
    tone = 0.5 * torch.sin(2 * math.pi * 440 * t)
    down = audio.resample(tone, 16000, 8000)                              # a 440 Hz tone stays a 440 Hz tone
    assert (down - 0.5 * torch.sin(2 * math.pi * 440 * torch.arange(8000) / 8000))[200:-200].abs().max() < 0.01
    assert audio.resample(torch.sin(2 * math.pi * 6000 * t), 16000, 8000)[200:-200].abs().max() < 0.02  # above Nyquist
    fb = audio.mel_filter_bank(16000, 1024, 32)
    assert fb.shape == (513, 32) and fb.max() <= 1 and (fb.sum(0) > 0).all()
    mel = audio.mel_spectrogram(torch.stack([tone, tone]), 16000, n_mels=32, log=False)
    assert mel.shape == (2, 32, 16000 // 256 + 1)
    centres = 700 * (10 ** (torch.linspace(0, 2595 * math.log10(1 + 8000 / 700), 34) / 2595) - 1)[1:-1]
    assert mel[0, :, 10:-10].mean(-1).argmax() == (centres - 440).abs().argmin()  # energy in the 440 Hz band


@pytest.mark.parametrize("bad, match", [
    (np.full(100, 1.5, np.float32), r"\|x\| <= 1"),
    (np.array([0.0, np.nan]), "NaN"),
    (np.zeros((2, 2, 2), np.float32), "shape|channels"),
    (np.zeros(100, np.int16), "float"),
])
def test_bad_waveforms_raise_and_leave_no_file(tmp_path, bad, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        audio.write_audio(bad, tmp_path / "x.wav", sample_rate=8000)
    with pytest.raises(ValueError, match="extension"):
        audio.write_audio(np.zeros(10), tmp_path / "x.mp3", sample_rate=8000)
    with pytest.raises(ValueError, match="sample_rate"):
        audio.write_audio(np.zeros(10), tmp_path / "x.wav", sample_rate=0)
    assert list(tmp_path.iterdir()) == []


def test_bad_synth_inputs(tmp_path) -> None:
    with pytest.raises(ValueError, match="waveform"):
        audio.synthesize(np.zeros((4, 128)), waveform="saw")
    with pytest.raises(ValueError, match="roll"):
        audio.synthesize(np.zeros((4, 4, 4)))
    with pytest.raises(FileNotFoundError):
        audio.synthesize(tmp_path / "none.mid")
