"""The shared tokenizer: one set of token ids for the caption LM, the sentence encoder and the captioner.

Either a byte-level BPE trained (with the `tokenizers` library) on the training captions only and
saved as GPT-2 `vocab.json`/`merges.txt`, or the tokenizer of a keras-hub GPT-2 preset. Both are
used through keras-hub's `GPT2Tokenizer`, so the ids are exactly those a GPT-2 model sees.
"""

import json
import os
from typing import Sequence

import keras_hub
import tokenizers

END_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<pad>"
_CONFIG_FILE = "tokenizer_config.json"


class CaptionTokenizer:
    """A keras-hub GPT2Tokenizer plus the ids that frame a caption: start, end and padding.

    Captions are framed GPT-2 style, `<|endoftext|> caption <|endoftext|>`: start and end are the
    same token. A trained tokenizer has its own `<pad>`; a preset one pads with the end token
    (pipelines always carry an explicit padding mask, so the pad id never decides anything).
    """

    def __init__(self, keras_tokenizer, pad_id: int, source: str):
        self.keras_tokenizer = keras_tokenizer
        self.end_id = keras_tokenizer.token_to_id(END_TOKEN)
        self.start_id = self.end_id
        self.pad_id = pad_id
        self.source = source

    @property
    def vocabulary_size(self) -> int:
        return self.keras_tokenizer.vocabulary_size()

    def encode(self, captions: Sequence[str]) -> list:
        """Token ids of each caption, without start/end tokens (one batched call)."""
        if not captions:
            return []
        return [list(ids) for ids in self.keras_tokenizer(list(captions))]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, dropping start/end/pad ids."""
        special = {self.start_id, self.end_id, self.pad_id}
        return self.keras_tokenizer.detokenize([[i for i in ids if i not in special]])[0]

    @classmethod
    def train(cls, captions: Sequence[str], directory: str, vocab_size: int,
              min_frequency: int = 2) -> "CaptionTokenizer":
        """Trains a byte-level BPE on `captions` and saves it GPT-2 style into `directory`."""
        bpe = tokenizers.ByteLevelBPETokenizer()
        bpe.train_from_iterator(captions, vocab_size=vocab_size, min_frequency=min_frequency,
                                special_tokens=[END_TOKEN, PAD_TOKEN], show_progress=False)
        os.makedirs(directory, exist_ok=True)
        bpe.save_model(directory)
        _write_config(directory, {"source": "trained", "pad_token": PAD_TOKEN})
        return cls.load(directory)

    @classmethod
    def from_preset(cls, preset: str, directory: str) -> "CaptionTokenizer":
        """The tokenizer of a keras-hub GPT-2 preset (name, `hf://...` or local folder), saved into `directory`."""
        keras_tokenizer = keras_hub.tokenizers.GPT2Tokenizer.from_preset(preset)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "vocab.json"), "w") as f:
            json.dump(dict(keras_tokenizer.vocabulary), f)
        with open(os.path.join(directory, "merges.txt"), "w") as f:
            f.write("\n".join(keras_tokenizer.merges) + "\n")
        _write_config(directory, {"source": f"preset:{preset}", "pad_token": END_TOKEN})
        return cls.load(directory)

    @classmethod
    def load(cls, directory: str) -> "CaptionTokenizer":
        """Reloads a tokenizer saved by `train` or `from_preset` (this is what resuming uses)."""
        with open(os.path.join(directory, _CONFIG_FILE)) as f:
            config = json.load(f)
        keras_tokenizer = keras_hub.tokenizers.GPT2Tokenizer(
            vocabulary=os.path.join(directory, "vocab.json"),
            merges=os.path.join(directory, "merges.txt"))
        return cls(keras_tokenizer, keras_tokenizer.token_to_id(config["pad_token"]),
                   config["source"])


def _write_config(directory: str, config: dict) -> None:
    with open(os.path.join(directory, _CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2)


def get_or_create(directory: str, source: str, train_captions: Sequence[str], vocab_size: int,
                  min_frequency: int) -> CaptionTokenizer:
    """Loads the workdir's tokenizer if one was saved, else trains one (`source="train"`) or takes a preset's."""
    if os.path.exists(os.path.join(directory, _CONFIG_FILE)):
        return CaptionTokenizer.load(directory)
    if source == "train":
        return CaptionTokenizer.train(train_captions, directory, vocab_size, min_frequency)
    return CaptionTokenizer.from_preset(source, directory)
