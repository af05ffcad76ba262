"""The paper's Figure 11: each generated word over the image, with its attention map overlaid.

One row per image: the image, then one panel per emitted token (BPE pieces as the model wrote
them, the end token last) with the token's ExE attention upsampled to the image and shown as a
translucent white-to-black mask, as in the reference's `visualize_att`.
"""

import math
from typing import Sequence

import numpy as np

from caption_aug.data import pipelines

_MAX_PANELS = 16  # words per row; longer captions are cut in the figure


def to_uint8(images: np.ndarray, normalization: str) -> np.ndarray:
    """Undoes `pipelines.normalize_images` for display (it is affine per channel: map black and
    white through it and invert)."""
    black, white = (pipelines.normalize_images(np.full([1, 1, 1, 3], value, np.uint8),
                                               normalization).numpy().reshape(3)
                    for value in (0, 255))
    unit = (images - black) / (white - black)
    return np.clip(np.round(unit * 255.0), 0, 255).astype(np.uint8)


def attention_figure(images: np.ndarray, words: Sequence[Sequence[str]], alphas: np.ndarray):
    """images uint8 [N, S, S, 3]; words[i] the tokens of caption i; alphas [N, L, P] with P = E*E.
    Returns a matplotlib Figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    grid = int(round(math.sqrt(alphas.shape[-1])))
    columns = 1 + min(_MAX_PANELS, max(len(w) for w in words))
    figure, axes = plt.subplots(len(images), columns, figsize=(1.6 * columns, 1.8 * len(images)),
                                squeeze=False)
    for row, (image, caption_words, attention) in enumerate(zip(images, words, alphas)):
        size = image.shape[:2][::-1]
        for column, axis in enumerate(axes[row]):
            axis.axis("off")
            if column == 0:
                axis.imshow(image)
                axis.set_title(" ".join(caption_words)[:40], fontsize=6, loc="left")
            elif column - 1 < len(caption_words):
                weights = attention[column - 1].reshape(grid, grid)
                weights = weights / max(weights.max(), 1e-12)
                mask = Image.fromarray(np.uint8(weights * 255)).resize(size, Image.BICUBIC)
                axis.imshow(image)
                axis.imshow(np.asarray(mask), cmap="Greys_r", alpha=0.7, vmin=0, vmax=255)
                axis.set_title(caption_words[column - 1], fontsize=8)
    figure.tight_layout()
    return figure


def token_words(keras_tokenizer, tokens: np.ndarray, num_tokens: int) -> list:
    """The text of each of the first `num_tokens` ids, one piece per token ("<end>" for the
    end-of-text token), for the figure's panel titles."""
    pieces = keras_tokenizer.detokenize(tokens[:num_tokens, None])
    pieces = pieces.numpy().tolist() if hasattr(pieces, "numpy") else list(pieces)  # eager: list
    end_id = keras_tokenizer.token_to_id("<|endoftext|>")
    return ["<end>" if token == end_id else _text(piece).strip() or "_"
            for token, piece in zip(tokens[:num_tokens], pieces)]


def _text(piece) -> str:
    return piece.decode("utf-8", "replace") if isinstance(piece, bytes) else piece
