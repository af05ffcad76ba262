"""TensorBoard scalars from nested dicts, read back from the event files."""

import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from caption_aug.workdir import summaries


def test_nested_dicts_become_one_scalar_per_leaf(tmp_path):
    writer = summaries.stage_writer(str(tmp_path), "stage")
    summaries.write_scalars(writer, {"all_true": 0.5, "by_kind": {"colour": 0.75, "shape": 0.25}},
                            step=3, prefix="semantic")
    writer.flush()
    events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard" / "stage"),
                                                size_guidance={event_accumulator.TENSORS: 0})
    events.Reload()
    values = {tag: float(tf.make_ndarray(events.Tensors(tag)[0].tensor_proto))
              for tag in events.Tags()["tensors"]}
    assert values == {"semantic/all_true": 0.5, "semantic/by_kind/colour": 0.75,
                      "semantic/by_kind/shape": 0.25}
    assert events.Tensors("semantic/by_kind/colour")[0].step == 3
