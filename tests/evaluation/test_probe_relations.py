"""The relation probe of benchmarks/probe_relations.py can tell a captioner that reads directions
from one that does not: an oracle scores 1; one that always says "left" is right on every "left"
and wrong on every "right"."""

import os
import sys

import pytest
import tensorflow as tf

from caption_aug.data import pipelines
from caption_aug.data import prepare
from configs import captioner_tiny

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import probe_relations  # noqa: E402


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    config = captioner_tiny.get_config()
    config.tokenizer.vocab_size = 1000   # the default's: direction words are single tokens
    data = prepare.prepare(config, str(tmp_path_factory.mktemp("probe")))
    split = data.splits["train"]
    dataset = pipelines.captioner_dataset(
        split, pipelines.frame_tokens(split.caption_tokens, data.tokenizer, 40),
        pipelines.ImageLoader(split, config.pipeline.captioner_image_size, 64),
        data.tokenizer.pad_id, 64, config.pipeline.bucket_boundaries,
        config.pipeline.captioner_normalization, training=False, seed=0)
    token_direction = probe_relations.direction_token_ids(data.tokenizer.keras_tokenizer)
    return list(dataset), token_direction, data.tokenizer.vocabulary_size


class _Captioner:
    """Logits from a rule on each position's true next token (the probe reads nothing else)."""

    def __init__(self, next_token_logits):
        self.next_token_logits, self.batch = next_token_logits, None

    def __call__(self, inputs, training):
        return {"logits": self.next_token_logits(self.batch["token_ids"][:, 1:])}


def _probe(model, batch_list, token_direction):
    def feed():
        for batch in batch_list:
            model.batch = batch
            yield batch
    return probe_relations.probe(model, feed(), token_direction)


def test_an_oracle_reads_every_direction_and_a_fixed_guess_only_its_own(batches):
    batch_list, token_direction, vocabulary_size = batches
    oracle = _Captioner(lambda t: 10.0 * tf.one_hot(t, vocabulary_size))
    result = _probe(oracle, batch_list, token_direction)
    assert result["direction_words"] > 20 and result["accuracy"] == 1.0, result
    left = [i for i, d in token_direction.items() if d == "left"][0]
    always_left = _Captioner(lambda t: 10.0 * tf.one_hot(tf.fill(tf.shape(t), left),
                                                         vocabulary_size))
    by_direction = _probe(always_left, batch_list, token_direction)["by_direction"]
    assert (by_direction["left"], by_direction["right"]) == (1.0, 0.0), by_direction
    # a vertical pair is decided the same way every time (by how many words name each side)
    assert by_direction["above"] + by_direction["below"] == 1.0, by_direction
