import os

import keras_hub
import pytest
import tokenizers

from caption_aug.text import normalize
from caption_aug.text import tokenizer as tokenizer_lib


@pytest.fixture(scope="module")
def real_captions(coco_val_captions):
    return [normalize.normalize_caption(c) for c in coco_val_captions[:5000]]


@pytest.fixture(scope="module")
def trained(real_captions, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tokenizer"))
    return tokenizer_lib.CaptionTokenizer.train(real_captions, directory, vocab_size=2000), directory


def test_trained_tokenizer_has_gpt2_files_and_special_ids(trained):
    tok, directory = trained
    assert {"vocab.json", "merges.txt"} <= set(os.listdir(directory))
    assert tok.vocabulary_size == 2000
    assert tok.start_id == tok.end_id != tok.pad_id


def test_keras_hub_ids_equal_tokenizers_library_ids(trained, real_captions):
    tok, directory = trained
    bpe = tokenizers.ByteLevelBPETokenizer(os.path.join(directory, "vocab.json"),
                                           os.path.join(directory, "merges.txt"))
    ours = tok.encode(real_captions[:2000])
    theirs = [e.ids for e in bpe.encode_batch(real_captions[:2000])]
    assert ours == theirs


def test_round_trip_and_no_unknown_ids(trained, real_captions):
    tok, _ = trained
    held_out = ["a zebra eating grass near a café", "two giraffes!"]
    for caption in real_captions[:200] + held_out:
        ids = tok.encode([caption])[0]
        assert min(ids) >= 0
        assert tok.decode([tok.start_id] + ids + [tok.end_id, tok.pad_id]) == caption


def test_get_or_create_reloads_instead_of_retraining(trained, real_captions):
    tok, directory = trained
    reloaded = tokenizer_lib.get_or_create(directory, "train", ["something else entirely"],
                                           vocab_size=300, min_frequency=1)
    assert reloaded.vocabulary_size == tok.vocabulary_size
    assert reloaded.encode(real_captions[:50]) == tok.encode(real_captions[:50])


def test_tokenizer_from_local_keras_hub_preset(trained, real_captions, tmp_path):
    tok, _ = trained
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=tok.vocabulary_size, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tok.keras_tokenizer, sequence_length=16)
    preset_dir = str(tmp_path / "preset")
    keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor).save_to_preset(preset_dir)

    from_preset = tokenizer_lib.get_or_create(str(tmp_path / "tok"), preset_dir, [], 0, 0)
    assert from_preset.source == f"preset:{preset_dir}"
    assert from_preset.pad_id == from_preset.end_id
    assert from_preset.encode(real_captions[:100]) == tok.encode(real_captions[:100])
    assert tokenizer_lib.CaptionTokenizer.load(str(tmp_path / "tok")).encode(
        real_captions[:100]) == tok.encode(real_captions[:100])
