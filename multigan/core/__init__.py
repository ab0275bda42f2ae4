"""Modality-agnostic machinery: objectives, penalties, the trainer, devices, checkpoints.

>>> from multigan.core import Trainer, TrainerConfig, AdversarialModel, get_objective
"""

from .device import autocast, init_distributed, resolve_device, resolve_precision, seed_everything
from .ema import EMA
from .module import AdversarialModel, DiscriminatorOutput, ModelMixin
from .objectives import Objective, available_objectives, get_objective, register_objective
from .penalties import DraganPenalty, GradientPenalty, Penalty, R1Penalty, R2Penalty, get_penalty
from .trainer import NonFiniteLossError, Trainer, TrainerConfig, parse_duration

__all__ = ["AdversarialModel", "DiscriminatorOutput", "DraganPenalty", "EMA", "GradientPenalty", "ModelMixin",
           "NonFiniteLossError", "Objective", "Penalty", "R1Penalty", "R2Penalty", "Trainer", "TrainerConfig",
           "autocast", "available_objectives", "get_objective", "get_penalty", "init_distributed",
           "parse_duration", "register_objective", "resolve_device", "resolve_precision", "seed_everything"]
