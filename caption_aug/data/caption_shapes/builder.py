"""The tfds builder of caption_shapes and its config, built from plain parameters.

Generation is fully deterministic: example `index` of a split is a function of the config's
seed, holdout and resolution and of (split, index) alone, so it does not depend on the split
sizes either. A config's name is a hash of its parameters, so distinct parameter
sets never share a folder under `data_dir`.
"""

import dataclasses
import hashlib
import json

import numpy as np
import tensorflow_datasets as tfds

from caption_aug.data.caption_shapes import features, grammar, render, scene

SPLITS = ("train", "validation", "test")
SPLIT_ID_STRIDE = 10**8   # image_id = split number * SPLIT_ID_STRIDE + index


@dataclasses.dataclass(eq=False)
class CaptionShapesConfig(tfds.core.BuilderConfig):
    """Parameters of a caption_shapes dataset; `name` is derived from them.

    Attributes:
      resolution: image side in pixels.
      train_size, validation_size, test_size: examples per split (a split of 0 is left out).
      seed: the dataset's seed; same parameters, identical examples (PNG bytes included).
      holdout: attribute combinations, e.g. (("red", "circle"), ("large", "star")), that no
        train object shows (compositional split).
      novel_fraction: with a holdout, the fraction of validation and test scenes in which one
        object shows a held-out combination (their `novel` flag).
    """
    name: str = dataclasses.field(default="", init=False)
    resolution: int = 64
    train_size: int = 4000
    validation_size: int = 500
    test_size: int = 500
    seed: int = 0
    holdout: tuple = ()
    novel_fraction: float = 0.5

    def __post_init__(self):
        self._validate()
        self.holdout = scene.normalise_holdout(self.holdout)
        params = json.dumps(self.parameters(), sort_keys=True)
        digest = hashlib.sha256(params.encode()).hexdigest()[:10]
        self.name = f"{self.resolution}px_seed{self.seed}_{digest}"
        self.description = f"caption_shapes with {params}"

    def _validate(self) -> None:
        if not isinstance(self.resolution, int) or not 16 <= self.resolution <= 1024:
            raise ValueError(f"resolution: expected an int in [16, 1024], got {self.resolution!r}")
        for split in SPLITS:
            size = getattr(self, f"{split}_size")
            if not isinstance(size, int) or not 0 <= size < SPLIT_ID_STRIDE:
                raise ValueError(f"{split}_size: expected an int in [0, {SPLIT_ID_STRIDE}), "
                                 f"got {size!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {self.seed!r}")
        if not 0.0 <= self.novel_fraction <= 1.0:
            raise ValueError(f"novel_fraction: expected a value in [0, 1], "
                             f"got {self.novel_fraction!r}")

    def parameters(self) -> dict:
        """The plain parameters (JSON-serialisable) this config was made from."""
        return {"resolution": self.resolution, "train_size": self.train_size,
                "validation_size": self.validation_size, "test_size": self.test_size,
                "seed": self.seed, "holdout": [list(c) for c in self.holdout],
                "novel_fraction": self.novel_fraction}

    def split_size(self, split: str) -> int:
        return getattr(self, f"{split}_size")


def generate_example(config: CaptionShapesConfig, split: str, index: int) -> tuple:
    """(image_id, Scene, image, captions) of example `index` of `split`."""
    split_number = SPLITS.index(split)
    scene_seed, caption_seed = np.random.SeedSequence([config.seed, split_number, index]).spawn(2)
    scene_rng = np.random.default_rng(scene_seed)
    novel = (split != "train" and bool(config.holdout)
             and scene_rng.random() < config.novel_fraction)
    the_scene = scene.sample_scene(scene_rng, config.holdout, novel)
    captions = [c.text for c in grammar.write_captions(the_scene,
                                                       np.random.default_rng(caption_seed))]
    image = render.render(the_scene, config.resolution)
    return split_number * SPLIT_ID_STRIDE + index, the_scene, image, captions


class CaptionShapes(tfds.core.GeneratorBasedBuilder):
    """Procedural scenes of 1-3 coloured shapes with 5 captions each and exact ground truth."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [CaptionShapesConfig()]

    def __init__(self, *, config=None, **kwargs):
        # tfds rejects a config that merely equals a predefined one; hand it that one instead.
        if isinstance(config, CaptionShapesConfig):
            config = self.builder_configs.get(config.name, config)
        super().__init__(config=config, **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=features.feature_spec(self.builder_config.resolution),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {split: self._generate_examples(split) for split in SPLITS
                if self.builder_config.split_size(split)}

    def _generate_examples(self, split: str):
        config = self.builder_config
        for index in range(config.split_size(split)):
            image_id, the_scene, image, captions = generate_example(config, split, index)
            yield image_id, features.encode(image_id, image, captions, the_scene.as_dict())
