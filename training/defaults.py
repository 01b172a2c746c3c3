"""What a new install trains, in one place.

The settings read their defaults from here, and so does the comparison protocol
(``python -m bench.protocol`` with no ``--backbone`` / ``--mode``), so that one command
measures what users get. The embedding a head reads is the backbone's own choice
(``BackboneSpec.default_embedding``) and the head's settings are ``train_head``'s defaults:
both are already shared by the product and the protocol. Pure: no Django.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Environment variables the settings module reads these from.
BACKBONE_ENV = "TAXONOMY_DEFAULT_BACKBONE"
INPUT_SIZE_ENV = "TAXONOMY_BACKBONE_INPUT_SIZE"

DEFAULT_BACKBONE = "efficientnet_lite0"
DEFAULT_MODE = "head"
# Caps on epochs a training run of each mode gets; the method's schedule usually stops first.
MAX_EPOCHS = {"head": 200, "finetune": 30}


def default_backbone(environ: Mapping[str, str] = os.environ) -> str:
    """The backbone a training run uses unless it names one."""
    return environ.get(BACKBONE_ENV, "").strip() or DEFAULT_BACKBONE


def backbone_input_size(environ: Mapping[str, str] = os.environ) -> int:
    """The input side images are loaded at; 0 = each backbone's own."""
    value = environ.get(INPUT_SIZE_ENV, "").strip()
    try:
        return int(value) if value else 0
    except ValueError:
        raise ValueError(f"{INPUT_SIZE_ENV}={value!r} is not an int") from None
