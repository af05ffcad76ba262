"""The Stage2GAN discriminator: a DARTS supernet of downsampling cells, or one derived from it.

A 3x3 stem conv at full resolution (as DARTS networks start; it lets D see pixel-level
artifacts such as the checkerboards of transposed convs, to which strided ops are blind) feeds
cells that each halve the resolution (64 -> 32 -> 16 -> 8 -> 4): a 1x1 conv sets its channels, a
strided mixed-op edge downsamples (node 1), an unstrided mixed-op edge refines (node 2), and the
cell outputs node 1 + node 2. The caption enters at 4x4, in one of two ways (`conditioning`):
"concat" (Reed et al. 2016, the paper's): the embedding, projected to 128 (linear, batch norm,
leaky ReLU), is replicated and depth-concatenated, then a 1x1 conv and a 4x4 conv give one logit
per image; "projection" (Miyato & Koyama 2018): the features are mean-pooled to h and the logit
is w.h + <V y, h>, so the caption's say in the logit is an inner product that the text cannot
be ignored through.

The architecture B ([edges, ops]) is a non-trainable variable, so `trainable_variables` (what
the weight optimiser sees) excludes it; stage 4 updates it with its own optimiser and may pass B
explicitly to `call(..., arch_weights=B)`, also through `stateless_call`.
"""

import json
import math
from typing import Optional, Sequence

import keras
import numpy as np
from keras import layers
from keras import ops

from caption_aug import distribute
from caption_aug import precision
from caption_aug.models.stage2gan import darts_ops
from caption_aug.models import tracking

TEXT_DIM = 128
EDGES_PER_CELL = 2   # edge 0 downsamples (stride 2), edge 1 keeps the resolution
CONDITIONINGS = ("concat", "projection")


def num_cells(image_size: int) -> int:
    """Downsampling cells from `image_size` to 4x4."""
    cells = math.log2(image_size / 4)
    if image_size < 8 or cells != int(cells):
        raise ValueError(f"image size {image_size} must be 4 * 2**k with k >= 1 (e.g. 32 or 64)")
    return int(cells)


def edge_strides(image_size: int) -> list:
    """Stride of every edge, in B's row order (cell by cell)."""
    return [2, 1] * num_cells(image_size)


class Stage2Discriminator(keras.Model):
    """Image + caption embedding -> matching logit [B].

    Args:
      image_size: input side (32 or 64, any 4 * 2**k).
      base_channels: channels of the first cell; each further cell doubles them.
      embedding_dim: size of the caption embedding (1024 for the sentence encoder).
      architecture: None for the supernet (every edge mixes all `darts_ops.OPS`), or one op name
        per edge (as `derive()["architecture"]`) for a fixed derived discriminator.
      seed: seed of B's initial value (1e-3 * N(0, 1), as DARTS).
      conditioning: how the caption enters the logit, "concat" or "projection" (module doc).
    """

    def __init__(self, image_size: int = 64, base_channels: int = 16, embedding_dim: int = 1024,
                 architecture: Optional[Sequence[str]] = None, seed: int = 0,
                 conditioning: str = "concat", **kwargs):
        super().__init__(**kwargs)
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"config key gan.discriminator_conditioning={conditioning!r} is "
                             f"invalid: expected one of {CONDITIONINGS}")
        self.conditioning = conditioning
        self.image_size = image_size
        self.base_channels = base_channels
        self.embedding_dim = embedding_dim
        self.architecture = tuple(architecture) if architecture is not None else None
        self.seed = seed
        strides = edge_strides(image_size)
        if self.architecture is not None:
            unknown = [op for op in self.architecture if op not in darts_ops.OPS]
            if len(self.architecture) != len(strides) or unknown:
                raise ValueError(f"architecture needs {len(strides)} op names from "
                                 f"{darts_ops.OPS}; got {list(self.architecture)}")
        self.channels = [base_channels * 2**k for k in range(num_cells(image_size))]
        self.stem = layers.Conv2D(base_channels, 3, padding="same", name="stem")
        self.preprocess = tracking.checkpointed(self, "preprocess", [
            layers.Conv2D(c, 1, use_bias=False, name=f"cell{k}_pre")
            for k, c in enumerate(self.channels)])
        edges = []
        for e, stride in enumerate(strides):
            cell = e // EDGES_PER_CELL
            op_names = darts_ops.OPS if self.architecture is None else (self.architecture[e],)
            edges.append(darts_ops.MixedOp(self.channels[cell], stride, op_names,
                                           name=f"cell{cell}_edge{e % EDGES_PER_CELL}"))
        self.edges = tracking.checkpointed(self, "edge", edges)
        if conditioning == "concat":
            self.text_projection = layers.Dense(TEXT_DIM, name="text_projection")
            self.text_norm = distribute.batch_normalization(name="text_norm")
            self.joint_conv = layers.Conv2D(self.channels[-1], 1, use_bias=False,
                                            name="joint_conv")
            self.joint_norm = distribute.batch_normalization(name="joint_norm")
            self.logit_conv = layers.Conv2D(1, 4, padding="valid", name="logit_conv")
            self.head_layers = ["text_projection", "text_norm", "joint_conv", "joint_norm",
                                "logit_conv"]
        else:
            self.unconditional_logit = layers.Dense(1, name="unconditional_logit")
            self.text_projection = layers.Dense(self.channels[-1], use_bias=False,
                                                name="text_projection")
            self.head_layers = ["unconditional_logit", "text_projection"]
        if self.architecture is None:
            self.arch_weights = self.add_weight(
                shape=(len(strides), len(darts_ops.OPS)), name="arch_weights", trainable=False,
                initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed))
        else:
            self.arch_weights = None

    @property
    def is_supernet(self) -> bool:
        return self.architecture is None

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def call(self, inputs, training=False, arch_weights=None):
        """inputs: {"image": [B, S, S, 3] in [-1, 1], "text_embedding": [B, embedding_dim]}.
        arch_weights: B to use instead of the variable (supernet only)."""
        mixing = None
        if self.is_supernet:
            b = self.arch_weights if arch_weights is None else arch_weights
            mixing = ops.softmax(ops.convert_to_tensor(b), axis=-1)
        x = self.stem(inputs["image"])
        for cell, pre in enumerate(self.preprocess):
            x = pre(ops.leaky_relu(x, darts_ops.LEAK))
            nodes = []
            for k in range(EDGES_PER_CELL):
                e = cell * EDGES_PER_CELL + k
                weights = None if mixing is None else mixing[e]
                x = self.edges[e](x, mixing_weights=weights, training=training)
                nodes.append(x)
            x = sum(nodes)
        x = ops.leaky_relu(x, darts_ops.LEAK)
        if self.conditioning == "projection":
            pooled = ops.mean(x, axis=(1, 2))
            text = self.text_projection(inputs["text_embedding"])
            return precision.full_precision(ops.reshape(self.unconditional_logit(pooled), [-1])
                                            + ops.sum(pooled * text, axis=-1))
        text = self.text_projection(inputs["text_embedding"])
        text = ops.leaky_relu(self.text_norm(text, training=training), darts_ops.LEAK)
        spatial = ops.shape(x)[1]
        text = ops.tile(text[:, None, None, :], [1, spatial, spatial, 1])
        x = self.joint_conv(ops.concatenate([x, text], axis=-1))
        x = ops.leaky_relu(self.joint_norm(x, training=training), darts_ops.LEAK)
        return precision.full_precision(ops.reshape(self.logit_conv(x), [-1]))

    def build_for(self, batch_size: int = 2) -> None:
        """Creates every variable with one dummy call."""
        self({"image": np.zeros((batch_size, self.image_size, self.image_size, 3), "float32"),
              "text_embedding": np.zeros((batch_size, self.embedding_dim), "float32")})

    def derive(self) -> dict:
        """The discrete architecture: the strongest non-zero op per edge, as a JSON-ready dict."""
        if not self.is_supernet:
            return architecture_dict(self.architecture, None, self.image_size)
        return derive_architecture(keras.ops.convert_to_numpy(self.arch_weights), self.image_size)

    def copy_weights_from(self, supernet: "Stage2Discriminator") -> None:
        """Gives this derived discriminator the supernet's weights for its chosen ops (and all
        shared layers), so that it equals the supernet with a one-hot B."""
        if self.is_supernet or not supernet.is_supernet:
            raise ValueError("copy_weights_from copies from a supernet into a derived discriminator")
        if self.conditioning != supernet.conditioning:
            raise ValueError("copy_weights_from needs both discriminators' conditioning alike")
        for name in ["stem", "preprocess", *self.head_layers]:
            mine, theirs = getattr(self, name), getattr(supernet, name)
            for a, b in zip(mine if isinstance(mine, list) else [mine],
                            theirs if isinstance(theirs, list) else [theirs]):
                a.set_weights(b.get_weights())
        for edge, op_name in zip(self.edges, self.architecture):
            source = supernet.edges[self.edges.index(edge)]
            edge.candidates[0].set_weights(
                source.candidates[source.op_names.index(op_name)].get_weights())

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size,
                "base_channels": self.base_channels, "embedding_dim": self.embedding_dim,
                "architecture": list(self.architecture) if self.architecture else None,
                "seed": self.seed, "conditioning": self.conditioning}


def derive_architecture(arch_weights: np.ndarray, image_size: int) -> dict:
    """Per edge, the op with the largest softmax(B) weight among the non-zero ops."""
    weights = np.exp(arch_weights - arch_weights.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    candidates = [k for k, name in enumerate(darts_ops.OPS) if name != darts_ops.ZERO_OP]
    chosen = [candidates[int(np.argmax(row[candidates]))] for row in weights]
    return architecture_dict([darts_ops.OPS[k] for k in chosen],
                             [float(row[k]) for row, k in zip(weights, chosen)], image_size)


def architecture_dict(op_names: Sequence[str], weights: Optional[Sequence[float]],
                      image_size: int) -> dict:
    strides = edge_strides(image_size)
    edges = [{"cell": e // EDGES_PER_CELL, "edge": e % EDGES_PER_CELL, "stride": strides[e],
              "op": name, **({"weight": weights[e]} if weights is not None else {})}
             for e, name in enumerate(op_names)]
    return {"image_size": image_size, "ops": list(darts_ops.OPS),
            "architecture": list(op_names), "edges": edges}


def architecture_to_json(architecture: dict) -> str:
    return json.dumps(architecture, indent=2)


def architecture_from_json(text: str) -> dict:
    """Parses and checks a derived architecture (as written by `architecture_to_json`)."""
    architecture = json.loads(text)
    expected = len(edge_strides(architecture["image_size"]))
    names = architecture.get("architecture", [])
    if len(names) != expected or any(n not in darts_ops.OPS for n in names):
        raise ValueError(f"derived architecture needs {expected} op names from {darts_ops.OPS}; "
                         f"got {names}")
    return architecture
