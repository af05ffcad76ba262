"""The embedded default: caption_shapes at 64x64, models from scratch, sized for 2 CPU cores."""

from caption_aug import config_schema


def get_config():
    return config_schema.base_config()
