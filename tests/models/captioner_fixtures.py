"""Tiny captioner configs shared by the captioner tests (32x32 images, dims 16)."""

from caption_aug import config_schema

VOCAB = 40
IMAGE_SIZE = 32
START = END = 0
PAD = 1


def tiny_transformer(num_layers: int, dropout: float, max_length: int) -> dict:
    """`tiny_captioner_config` overrides for a transformer decoder of width 16."""
    return {"decoder": "transformer",
            "transformer": dict(num_layers=num_layers, num_heads=2, hidden_dim=16,
                                intermediate_dim=32, dropout=dropout, max_length=max_length)}


def tiny_captioner_config(**overrides):
    cfg = config_schema.base_config().captioner
    config_schema.scene_free_captioner(cfg)  # the paper's decoder: each test names what it adds
    cfg.small_cnn_filters = (8, 8, 16)
    cfg.small_cnn_convs_per_block = 1   # the plain stack: the fixtures' captions were checked on it
    cfg.encoded_size = 4
    cfg.embedding_dim, cfg.attention_dim, cfg.decoder_dim = 12, 10, 16
    for key, value in overrides.items():
        cfg[key] = value
    return cfg
