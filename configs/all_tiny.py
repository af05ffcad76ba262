"""The whole `--mode=all` schedule at test size: a small caption_shapes (96/24/24 images at 32x32)
and tiny models, a couple of minutes on 2 CPU cores. The GAN draws 16x16 images: its supernet
discriminator then has two cells, not three, and the joint step's trace (most of a test's time)
is about a quarter shorter.

  python train_main.py --config=configs/all_tiny.py --workdir=/tmp/all_tiny
"""

from configs import captioner_tiny


def get_config():
    config = captioner_tiny.get_config()
    config.pipeline.gan_image_size = 16
    config.pipeline.encoder_image_size = 32
    lm = config.lm
    lm.num_layers, lm.num_heads, lm.hidden_dim, lm.intermediate_dim = 1, 2, 32, 64
    lm.epochs = 2
    lm.log_every_steps = 10
    gen = lm.generation
    gen.batch_size, gen.num_eval_prompts, gen.num_table_rows = 16, 32, 4
    enc = config.encoder
    enc.token_embedding_dim, enc.rnn_units, enc.epochs, enc.log_every_steps = 16, 16, 1, 10
    gan = config.gan
    gan.generator_channels, gan.discriminator_channels, gan.batch_size = 8, 4, 16
    gan.iterations, gan.generator_steps, gan.summary_every, gan.checkpoint_every = 4, 2, 2, 1
    gan.sample_captions, gan.samples_per_caption = 4, 2
    config.attribute_classifier.update(dict(steps=20, filters=(8, 16, 32), convs_per_block=1,
                                            stem=0))
    config.captioner.epochs = 1
    for stage in (lm, enc, config.captioner):  # mid-epoch checkpoints (30 steps an epoch)
        stage.checkpoint_every_steps = 8
    config.captioner.eval_beam_sizes = (1, 3)
    joint = config.joint
    joint.iterations, joint.synthetic_batch_size, joint.log_every, joint.checkpoint_every = 3, 4, 1, 1
    return config
