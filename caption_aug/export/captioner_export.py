"""`--mode=export`: the trained captioner as a SavedModel that captions encoded images.

`WORKDIR/export/captioner/` gets a serving signature (`serving_default`, also `serve`):
images: string [N] (encoded JPEG/PNG/GIF/BMP bytes, any size; grayscale and RGBA become RGB) ->
{"captions": string [N], "log_probs": float32 [N]}. Decoding, resizing, normalisation, the batched
beam search (beam size fixed at export) and the tokenizer's detokenisation all run in the graph,
so `tf.saved_model.load` serves it in a process that never imports caption_aug. An empty string
or undecodable bytes fail the call with InvalidArgumentError naming the problem.
"""

import os

import keras
import tensorflow as tf
from absl import logging

from caption_aug import compiled
from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.evaluation import captioner_eval
from caption_aug.models.captioner import detokenize
from caption_aug.workdir import trained


def serving_function(model, tokenizer, image_size: int, normalization: str, beam_size: int,
                     max_length: int, jit_compile: bool):
    """images (encoded bytes [N]) -> {"captions", "log_probs"}: the exported computation. With
    `jit_compile` the beam search (not the decoding or detokenisation) is XLA-compiled, once per
    batch size seen by the loaded model."""

    def decode(data):
        return pipelines.decode_and_resize(data, is_path=False, size=image_size)

    @compiled.function(jit_compile=jit_compile)
    def search(images):
        return model.generate(images, beam_size, max_length, tokenizer.start_id, tokenizer.end_id,
                              tokenizer.pad_id)

    def serve(images):
        empty = tf.where(tf.equal(tf.strings.length(images), 0))[:, 0]
        check = tf.debugging.Assert(
            tf.equal(tf.size(empty), 0),
            ["empty image bytes (a zero-length string) at batch positions", empty])
        with tf.control_dependencies([check]):
            images = tf.identity(images)
        pixels = tf.map_fn(decode, images,
                           fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8))
        result = search(pipelines.normalize_images(pixels, normalization))
        return {"captions": detokenize(tokenizer.keras_tokenizer, result),
                "log_probs": result.log_probs}

    return serve


def export_captioner(model, tokenizer, path: str, image_size: int, normalization: str,
                     beam_size: int, max_length: int, jit_compile: bool = False) -> str:
    """Writes the serving SavedModel of `model` to `path` (replacing what is there)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    keras_tokenizer = tokenizer.keras_tokenizer
    if not keras_tokenizer.built:  # a tokenizer has no weights: "built" only gates tracking
        keras_tokenizer.build(None)
    archive.track(keras_tokenizer)  # its lookup tables travel with the SavedModel
    archive.add_endpoint(
        "serve", serving_function(model, tokenizer, image_size, normalization, beam_size,
                                  max_length, jit_compile),
        input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    archive.write_out(path, verbose=False)
    return path


def run_mode(config, workdir: str) -> str:
    """`--mode=export`: the best captioner checkpoint -> WORKDIR/export/captioner."""
    prepared = prepare_lib.prepare(config, workdir)
    model = trained.load_trained_captioner(config, workdir,
                                                  prepared.tokenizer.vocabulary_size)
    path = os.path.join(workdir, "export", "captioner")
    export_captioner(model, prepared.tokenizer, path, config.pipeline.captioner_image_size,
                     config.pipeline.captioner_normalization, config.captioner.export_beam_size,
                     captioner_eval.decode_length(config),
                     config.captioner.beam_search_jit_compile)
    logging.info("exported to %s", path)
    print(f"captioner SavedModel (beam {config.captioner.export_beam_size}) written to {path}; "
          f"try: caption_aug_caption --model {path} IMAGE...")
    return path
