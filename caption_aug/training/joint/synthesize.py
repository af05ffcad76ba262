"""`--mode=synthesize`: writes `synthesize.num_pairs` synthetic (image, caption) pairs to
WORKDIR/synthetic/: PNG images plus `captions.json` in the COCO captions format, so any COCO reader
(this project's `data.source="coco"` included) can inspect, score or train on them. Beside them,
`real_vs_generated.png` (+ `.txt`, its captions): test captions, each with its real image and
images the generator draws for it (the paper's Figure 7).

Captions come from the LM continuing prompts of real training captions, images from the generator
conditioned on each caption's GAN embedding, as in stage 4; the models are the joint phase's when
it has run in the workdir, else the warmed-up stages'.
"""

import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.training import gan_trainer as gan_trainer_lib
from caption_aug.training.joint import trainer as joint_trainer


def write_pairs(directory: str, images: np.ndarray, captions, start_id: int) -> list:
    """PNG files for uint8 `images`; the COCO `images` and `annotations` entries for them."""
    entries = []
    for offset, (image, caption) in enumerate(zip(images, captions)):
        image_id = start_id + offset
        file_name = f"{image_id:06d}.png"
        tf.io.write_file(os.path.join(directory, "images", file_name), tf.io.encode_png(image))
        entries.append(({"id": image_id, "file_name": file_name, "height": int(image.shape[0]),
                         "width": int(image.shape[1])},
                        {"id": image_id, "image_id": image_id, "caption": caption}))
    return entries


def synthesize(config, workdir: str, prepared) -> str:
    """Draws the pairs and writes them; returns the path of captions.json."""
    num_pairs = config.synthesize.num_pairs
    run = joint_trainer.build_run(config, workdir, prepared)
    models, tok = run.step.models, prepared.tokenizer
    directory = os.path.join(workdir, "synthetic")
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    generate = gan_trainer_lib.inference_images(models.embed_text, models.generator)
    gan_trainer_lib.RealVersusGenerated(
        pipelines.Datasets(config, prepared.splits, tok), "test", config).write(
            os.path.join(directory, "real_vs_generated.png"), generate)
    batch_size = min(num_pairs, config.lm.generation.batch_size)
    entries = []
    for draw in range((num_pairs + batch_size - 1) // batch_size):
        batch = run.sampler.sample(batch_size, draw=draw)
        images = generate(batch["token_ids"], batch["padding_mask"], batch["noise"])
        captions = [tok.decode(ids).strip() for ids in batch["token_ids"]]
        keep = min(batch_size, num_pairs - len(entries))
        entries += write_pairs(directory, gan_trainer_lib.to_uint8(images)[:keep],
                               captions[:keep], len(entries) + 1)
        logging.info("synthesized %d/%d pairs", len(entries), num_pairs)
    path = os.path.join(directory, "captions.json")
    with open(path, "w") as f:
        json.dump({"info": {"description": "caption_aug synthetic pairs",
                            "joint_iterations": run.iterations_done},
                   "images": [image for image, _ in entries],
                   "annotations": [annotation for _, annotation in entries]}, f, indent=1)
    return path


def run_mode(config, workdir: str) -> str:
    prepared = prepare_lib.prepare(config, workdir)
    path = synthesize(config, workdir, prepared)
    directory = os.path.dirname(path)
    print(f"{config.synthesize.num_pairs} synthetic pairs written: {path} and "
          f"{os.path.join(directory, 'images')}; real vs generated for test captions: "
          f"{os.path.join(directory, 'real_vs_generated.png')}")
    return path
