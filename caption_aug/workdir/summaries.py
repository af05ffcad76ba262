"""TensorBoard helpers shared by the stages: scalars from a dict, and matplotlib figures as images.

Events go to `WORKDIR/tensorboard/<stage>/`; these wrap `tf.summary` only where a stage would
otherwise repeat the same few lines.
"""

import io

import tensorflow as tf

from caption_aug.workdir import layout


def stage_writer(workdir: str, stage: str):
    """The summary writer of a stage: WORKDIR/tensorboard/<stage>/."""
    return tf.summary.create_file_writer(layout.tensorboard_dir(workdir, stage))


def write_scalars(writer, values: dict, step: int, prefix: str = "") -> None:
    """One scalar per item of `values`, named `prefix/key` (or `key` without a prefix); a nested
    dict becomes `prefix/key/subkey` scalars."""
    with writer.as_default(step=step):
        for key, value in values.items():
            name = f"{prefix}/{key}" if prefix else key
            if isinstance(value, dict):
                write_scalars(writer, value, step, name)
            else:
                tf.summary.scalar(name, float(value))


def figure_png(figure) -> bytes:
    """A matplotlib figure as PNG bytes (closes the figure)."""
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def write_png(writer, name: str, png: bytes, step: int) -> None:
    """A PNG (e.g. from `figure_png`) as an image summary."""
    image = tf.io.decode_png(png, channels=3)
    with writer.as_default(step=step):
        tf.summary.image(name, image[None], step=step)


def markdown_table(header, rows) -> str:
    """Rows of strings as a markdown table (TensorBoard renders text summaries as markdown)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_text(writer, name: str, text: str, step: int) -> None:
    with writer.as_default(step=step):
        tf.summary.text(name, text, step=step)

