"""multigan: adversarial generation beyond images, on one shared trainer.

Modalities (imported on first use, so ``import multigan`` stays cheap)::

    from multigan.core import Trainer, TrainerConfig, AdversarialModel
    from multigan.music import MidiNet           # as each modality lands

``multigan.MODALITIES`` maps each modality name to its subpackage.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: modality name -> subpackage (imported lazily by :func:`load_modality` and the CLI)
MODALITIES: dict[str, str] = {
    "music": "multigan.music",
    "voxel": "multigan.voxel",
    "video": "multigan.video",
    "text2image": "multigan.text2image",
    "anomaly": "multigan.anomaly",
}


def load_modality(name: str) -> ModuleType:
    """Import a modality subpackage by name, with a clear error if it is unknown or not built yet."""
    if name not in MODALITIES:
        raise ValueError(f"unknown modality {name!r}; known: {', '.join(MODALITIES)}")
    if name not in available_modalities():
        raise NotImplementedError(f"modality {name!r} is not part of this multigan build yet")
    return importlib.import_module(MODALITIES[name])


def available_modalities() -> list[str]:
    """Modalities whose subpackage exists in this installation."""
    import importlib.util
    found = {name: importlib.util.find_spec(mod) for name, mod in MODALITIES.items()}
    return [name for name, spec in found.items() if spec is not None and spec.origin is not None]   # not namespace dirs


def __getattr__(name: str):  # lazy ``multigan.core`` / ``multigan.io`` access
    if name in ("core", "io"):
        return importlib.import_module(f"multigan.{name}")
    raise AttributeError(f"module 'multigan' has no attribute {name!r}")
