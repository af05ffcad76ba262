"""The caption LM on all 25,014 real COCO val2017 captions (text only; 5% of the images' captions
held out for perplexity), beside the 40-photo sample that the image stages use.

The LM reads `captions_val2017.json` through `lm.text_only_source`: its 4,960 missing photos are
never looked for, since the LM needs no images. Run `--mode=train_lm` first in a fresh workdir, so
that the shared tokenizer is fitted on these 23,000 captions rather than on the sample's few hundred.
"""

import os

from configs import coco_sample


def get_config():
    config = coco_sample.get_config()
    config.lm.text_only_source = os.path.join(coco_sample.SAMPLE_DIR, "captions_val2017.json")
    config.data.validation_fraction = 0.05
    config.data.test_fraction = 0.05
    config.tokenizer.vocab_size = 5000
    config.lm.epochs = 3
    return config
