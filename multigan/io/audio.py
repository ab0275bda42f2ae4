"""Audio: a small torch synthesiser for piano-rolls / MIDI, WAV/FLAC writing, resampling, mel spectra.

The synthesiser plays each note as a few harmonics under an envelope (5 ms linear attack,
exponential decay towards a 30 % sustain, 0.2 s exponential release after note off), sums the
notes and scales the mix down to a peak of at most 0.9. The output lasts the roll (``T`` steps)
or the MIDI file, plus a release tail of :data:`RELEASE_S` = 0.2 s.

Writing: ``.wav`` with the stdlib ``wave`` module (16-bit PCM, readable everywhere), ``.flac`` with
PyAV's FLAC encoder. Resampling is SciPy's polyphase filter; the mel spectrogram is ``torch.stft``
with an HTK mel filter bank. torchaudio is not needed.

Example:
    >>> wav = synthesize(roll, onsets=onsets, tempo=120.0)          # doctest: +SKIP
    >>> write_audio(wav, "song.wav", sample_rate=22050)             # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .utils import as_numpy, atomic_file, check_suffix, existing_file

if TYPE_CHECKING:
    import torch

__all__ = ["synthesize", "write_audio", "read_audio", "resample", "mel_spectrogram", "RELEASE_S", "AUDIO_SUFFIXES"]

RELEASE_S = 0.2
AUDIO_SUFFIXES = (".wav", ".flac")
_ATTACK_S, _DECAY_S, _SUSTAIN = 0.005, 0.3, 0.3
_HARMONICS = {"additive": (1.0, 0.5, 0.25, 0.125), "sine": (1.0,)}


def _notes_in_seconds(source: Any, steps_per_beat: int, tempo: float, onsets: Any,
                      pitch_offset: int) -> tuple[list[tuple[int, float, float, float]], float]:
    """(pitch, start_s, end_s, amplitude 0-1) notes and the source duration in seconds."""
    from .midi import load_midi, roll_to_notes, step_seconds

    if isinstance(source, (str, os.PathLike)) or hasattr(source, "instruments"):
        pm = load_midi(source)
        notes = [(n.pitch, n.start, n.end, n.velocity / 127) for i in pm.instruments if not i.is_drum for n in i.notes]
        return notes, pm.get_end_time()
    dt = step_seconds(tempo, steps_per_beat)
    notes = roll_to_notes(source, onsets, pitch_offset=pitch_offset)
    return [(p, s * dt, e * dt, v) for p, s, e, v in notes], len(as_numpy(source, "roll")) * dt


def _note(pitch: int, length_s: float, amplitude: float, sample_rate: int,
          harmonics: tuple[float, ...]) -> "torch.Tensor":
    import torch

    t = torch.arange(int(math.ceil((length_s + RELEASE_S) * sample_rate)), dtype=torch.float64) / sample_rate
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    tone = sum(a * torch.sin(2 * math.pi * f0 * (k + 1) * t)
               for k, a in enumerate(harmonics) if f0 * (k + 1) < sample_rate / 2)
    env = torch.clamp(t / _ATTACK_S, max=1.0) * (_SUSTAIN + (1 - _SUSTAIN) * torch.exp(-t / _DECAY_S))
    off = t >= length_s
    env_at_off = env[off][0] if off.any() else env[-1]
    env = torch.where(off, env_at_off * torch.exp(-(t - length_s) / (RELEASE_S / 6)), env)
    return amplitude * 0.3 * env * tone / sum(harmonics)


def synthesize(
    roll_or_midi: Any,
    *,
    sample_rate: int = 22050,
    steps_per_beat: int = 4,
    tempo: float = 120.0,
    onsets: Any = None,
    pitch_offset: int = 0,
    waveform: str = "additive",
) -> "torch.Tensor":
    """Render a piano-roll ``(T, P)`` or a MIDI file / PrettyMIDI to a mono float32 waveform ``(n,)``.

    Roll notes follow :func:`multigan.io.midi.roll_to_notes` (``onsets`` split re-struck notes;
    float roll values are note loudness). ``n = ceil((duration + RELEASE_S) * sample_rate)`` with
    duration ``T * 60 / tempo / steps_per_beat`` for rolls. A silent input gives zeros.

    Args:
        roll_or_midi: piano-roll array/tensor, ``.mid`` path or ``pretty_midi.PrettyMIDI``.
        sample_rate: output sample rate in Hz.
        steps_per_beat: roll grid steps per beat.
        tempo: roll tempo in bpm.
        onsets: optional onset roll (same shape as the roll).
        pitch_offset: MIDI pitch of roll column 0.
        waveform: ``"additive"`` (4 decaying harmonics) or ``"sine"``.

    Example:
        >>> roll = np.zeros((8, 128), bool); roll[:, 60] = True
        >>> synthesize(roll).shape                  # 1 s + 0.2 s tail at 22050 Hz
        torch.Size([26460])
    """
    import torch

    if waveform not in _HARMONICS:
        raise ValueError(f"waveform must be one of {sorted(_HARMONICS)}, got {waveform!r}")
    if not int(sample_rate) > 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    notes, duration = _notes_in_seconds(roll_or_midi, steps_per_beat, tempo, onsets, pitch_offset)
    out = torch.zeros(int(math.ceil((duration + RELEASE_S) * sample_rate)), dtype=torch.float64)
    for pitch, start, end, amplitude in notes:
        wave = _note(pitch, end - start, amplitude, sample_rate, _HARMONICS[waveform])
        i = int(round(start * sample_rate))
        wave = wave[: max(0, len(out) - i)]
        out[i:i + len(wave)] += wave
    peak = float(out.abs().max()) if len(out) else 0.0
    return (out / max(1.0, peak / 0.9)).float()


def _check_waveform(waveform: Any, sample_rate: int) -> np.ndarray:
    wav = as_numpy(waveform, "waveform")
    if not np.issubdtype(wav.dtype, np.floating):
        raise TypeError(f"waveform must be float, got dtype {wav.dtype}")
    if wav.ndim == 1:
        wav = wav[None]
    if wav.ndim != 2 or wav.shape[1] == 0:
        shape = as_numpy(waveform, "waveform").shape
        raise ValueError(f"waveform must be (n,) or (channels, n) with n > 0, got {shape}")
    if not np.isfinite(wav).all():
        raise ValueError("waveform contains NaN or inf")
    if np.abs(wav).max() > 1:
        raise ValueError(f"waveform must satisfy |x| <= 1, got peak {np.abs(wav).max():.3g}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    return wav.astype(np.float32)


def _write_wav(wav: np.ndarray, path: Path, sample_rate: int) -> None:
    import wave

    pcm = np.round(wav.T * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(wav.shape[0])
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())


def _write_flac(wav: np.ndarray, path: Path, sample_rate: int) -> None:
    import av

    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=sample_rate, layout="mono" if len(wav) == 1 else "stereo")
        pcm = np.round(wav.T * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=stream.layout.name)
        frame.sample_rate, frame.pts = sample_rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def write_audio(waveform: Any, path: str | os.PathLike, *, sample_rate: int) -> Path:
    """Write a float waveform ``(n,)`` or ``(channels, n)`` with ``|x| <= 1`` to .wav (16-bit PCM) or .flac.

    Example:
        >>> write_audio(torch.zeros(22050), "silence.wav", sample_rate=22050)   # doctest: +SKIP
    """
    path = check_suffix(path, AUDIO_SUFFIXES)
    wav = _check_waveform(waveform, sample_rate)
    with atomic_file(path) as tmp:
        (_write_wav if path.suffix.lower() == ".wav" else _write_flac)(wav, tmp, int(sample_rate))
    return path


def read_audio(path: str | os.PathLike) -> tuple["torch.Tensor", int]:
    """Read a .wav (stdlib ``wave``, PCM) or any PyAV-decodable file as float32 ``(channels, n)`` and its rate."""
    import torch

    path = existing_file(path)
    try:
        if path.suffix.lower() == ".wav":
            import wave

            with wave.open(str(path), "rb") as f:
                if f.getsampwidth() != 2:
                    raise ValueError(f"only 16-bit PCM WAV is supported, got {8 * f.getsampwidth()}-bit")
                rate, channels = f.getframerate(), f.getnchannels()
                data = np.frombuffer(f.readframes(f.getnframes()), "<i2").reshape(-1, channels).T / 32768.0
        else:
            import av

            with av.open(str(path)) as container:
                stream = container.streams.audio[0]
                rate = stream.codec_context.sample_rate
                data = np.concatenate([_frame_to_float(f) for f in container.decode(stream)], axis=1)
    except Exception as err:
        raise ValueError(f"cannot read audio {str(path)!r}: {err}") from err
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)), int(rate)


def _frame_to_float(frame: Any) -> np.ndarray:
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    arr = arr if frame.format.is_planar else arr.reshape(-1, channels).T
    scale = {"s16": 32768.0, "s32": 2147483648.0}.get(frame.format.name.rstrip("p"), 1.0)
    return arr.astype(np.float64) / scale


def resample(waveform: Any, orig: int, new: int) -> "torch.Tensor":
    """Resample ``waveform`` (``(..., n)``) from ``orig`` Hz to ``new`` Hz (SciPy's polyphase FIR filter,
    Kaiser window); the output has ``ceil(n * new / orig)`` samples."""
    import torch
    from scipy.signal import resample_poly

    if not (orig > 0 and new > 0):
        raise ValueError(f"sample rates must be > 0, got {orig} -> {new}")
    wav = np.asarray(as_numpy(waveform, "waveform"), dtype=np.float64)
    g = math.gcd(int(orig), int(new))
    out = resample_poly(wav, int(new) // g, int(orig) // g, axis=-1) if orig != new else wav
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> "torch.Tensor":
    """``(n_fft // 2 + 1, n_mels)`` triangular filters on the HTK mel scale (``2595 log10(1 + f / 700)``),
    spaced evenly in mel from 0 Hz to the Nyquist frequency, unnormalised (peak 1)."""
    import torch

    freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1, dtype=torch.float64)
    top = 2595.0 * math.log10(1.0 + (sample_rate / 2) / 700.0)
    edges = 700.0 * (10 ** (torch.linspace(0, top, n_mels + 2, dtype=torch.float64) / 2595.0) - 1.0)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).float()


def mel_spectrogram(waveform: Any, sample_rate: int, n_mels: int = 64, *, n_fft: int = 1024,
                    hop_length: int = 256, log: bool = True) -> "torch.Tensor":
    """Mel spectrogram ``(..., n_mels, frames)`` of ``waveform``: power STFT (periodic Hann window of
    ``n_fft``, centred frames, reflect padding) through :func:`mel_filter_bank`; ``log`` applies
    ``log(x + 1e-6)``.

    Example:
        >>> mel_spectrogram(torch.zeros(22050), 22050).shape     # doctest: +SKIP
        torch.Size([64, 87])
    """
    import torch

    wav = torch.as_tensor(as_numpy(waveform, "waveform"), dtype=torch.float32)
    flat = wav.reshape(-1, wav.shape[-1])
    spec = torch.stft(flat, n_fft, hop_length=hop_length, window=torch.hann_window(n_fft), center=True,
                      pad_mode="reflect", return_complex=True).abs() ** 2          # (B, freqs, frames)
    mel = torch.einsum("bft,fm->bmt", spec, mel_filter_bank(sample_rate, n_fft, n_mels))
    mel = mel.reshape(*wav.shape[:-1], n_mels, mel.shape[-1])
    return torch.log(mel + 1e-6) if log else mel
