"""Stage 2: a text-conditional DCGAN whose discriminator is a DARTS mixed-op supernet."""

from caption_aug.models.stage2gan.conditioning import CaptionConditioning
from caption_aug.models.stage2gan.discriminator import (Stage2Discriminator, architecture_from_json,
                                                        architecture_to_json, derive_architecture)
from caption_aug.models.stage2gan.generator import Stage2Generator
from caption_aug.models.stage2gan.losses import (discriminator_loss, generator_loss,
                                                 mode_seeking_loss)

__all__ = ["CaptionConditioning", "Stage2Discriminator", "Stage2Generator",
           "architecture_from_json", "architecture_to_json", "derive_architecture",
           "discriminator_loss", "generator_loss", "mode_seeking_loss"]
