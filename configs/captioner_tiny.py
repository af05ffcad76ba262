"""A test-sized captioner run: a small caption_shapes (96/24/24 images at 32x32) and tiny dims.

  python train_main.py --config=configs/captioner_tiny.py --workdir=/tmp/tiny --mode=train_captioner
"""

from caption_aug import config_schema


def get_config():
    config = config_schema.base_config()
    shapes = config.data.caption_shapes
    shapes.train_size, shapes.validation_size, shapes.test_size, shapes.resolution = 96, 24, 24, 32
    config.tokenizer.vocab_size = 300
    config.pipeline.batch_size = 16
    config.pipeline.eval_batch_size = 16
    config.pipeline.captioner_image_size = 32
    cap = config.captioner
    cap.small_cnn_filters = (8, 16, 16)
    cap.encoded_size = 4
    cap.embedding_dim = cap.attention_dim = cap.decoder_dim = 32
    cap.encoder_lr = cap.decoder_lr = 3e-3
    cap.pretrain_steps = cap.pretrain_object_steps = 0  # tested alone (test_encoder_pretraining)
    cap.epochs = 2
    cap.beam_search_jit_compile = False  # XLA compiles per batch shape: slower for a tiny run
    cap.log_every_steps = 10
    cap.num_attention_maps = 2
    return config
