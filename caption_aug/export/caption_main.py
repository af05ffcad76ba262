"""`caption_aug_caption --model DIR IMAGE...`: prints one caption per image with an exported captioner.

  caption_aug_caption --model runs/shapes/export/captioner photo1.jpg photo2.png

Each line is `IMAGE<TAB>caption<TAB>log-probability`. Only TensorFlow is needed to run the model
(the SavedModel carries decoding, beam search and detokenisation); an unreadable or undecodable
image stops the command with one line naming it.
"""

import sys

from absl import app
from absl import flags

_MODEL = flags.DEFINE_string("model", None, "Exported captioner SavedModel folder "
                             "(WORKDIR/export/captioner, made by --mode=export).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Images captioned per call.")


def caption_files(model_dir: str, paths, batch_size: int):
    """Yields (path, caption, log_prob) for each image file, in order."""
    import tensorflow as tf
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = [_read(path) for path in chunk]
        try:
            out = serve(images=tf.constant(images))
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(_name_bad_image(serve, chunk, images, e)) from None
        for path, caption, log_prob in zip(chunk, out["captions"].numpy(), out["log_probs"].numpy()):
            yield path, caption.decode("utf-8", "replace"), float(log_prob)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _name_bad_image(serve, paths, images, batch_error) -> str:
    """"PATH: reason" for the first image the model rejects on its own (the batch error names
    the problem but not the file)."""
    import tensorflow as tf
    for path, data in zip(paths, images):
        try:
            serve(images=tf.constant([data]))
        except tf.errors.InvalidArgumentError as e:
            return f"{path}: {_reason(e.message)}"
    return _reason(batch_error.message)


def _reason(message: str) -> str:
    """The line of a TensorFlow error message that says what was wrong with the input (not the
    "Graph execution error" header, node locations or stack placeholders)."""
    noise = ("Graph execution error", "Detected at", "<stack", "[[")
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.strip().startswith(noise)]
    return lines[0] if lines else "invalid image"


def output_line(path: str, caption: str, log_prob: float) -> str:
    """`path<TAB>caption<TAB>log-probability`; whitespace inside the caption (a model can emit
    newline or tab tokens) becomes single spaces, so that every image stays one line of 3 fields."""
    return f"{path}\t{' '.join(caption.split())}\t{log_prob:.3f}"


def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("give at least one image file")
    try:
        for path, caption, log_prob in caption_files(_MODEL.value, paths, _BATCH_SIZE.value):
            print(output_line(path, caption, log_prob))
    except (OSError, ValueError) as e:
        print(f"caption_aug_caption: error: {e}", file=sys.stderr)
        return 1
    return 0


def run():
    """Console-script entry point (setup.py: caption_aug_caption)."""
    flags.mark_flag_as_required("model")
    app.run(main)


if __name__ == "__main__":
    run()
