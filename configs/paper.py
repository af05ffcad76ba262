"""The paper's settings shared by `coco_karpathy.py` and `flickr8k.py` (GPU-sized; offline, check
them with `--mode=dry_run`, which needs neither data nor pretrained weights).

Captioner: Show-Attend-Tell with ResNet-101 (ImageNet) at 256x256, conv3_x..conv5_x fine-tuned,
14x14 encoded pixels, 512-d embedding/attention/decoder. LM: DistilGPT2 (its tokenizer is the
shared one). GAN: 64x64, generator lr 1e-4, discriminator lr 1e-5, five generator updates per
discriminator update, GAN-CLS (BCE, concatenated text, transposed convs, no matching loss, no
EMA). Caption generation: beam 2.
"""

from caption_aug import config_schema

DISTILGPT2 = "hf://distilbert/distilgpt2"


def get_config():
    config = config_schema.base_config()
    config.data.source = "karpathy"
    config.data.cache_max_mb = 0                 # decode per batch: the photos do not fit
    config.tokenizer.source = DISTILGPT2
    config.tokenizer.vocab_size = 50257          # DistilGPT2's; used by dry_run without the preset
    pipe = config.pipeline
    pipe.captioner_image_size = 256
    pipe.captioner_normalization = "imagenet"
    pipe.gan_image_size = 64
    pipe.encoder_image_size = 224
    cap = config.captioner
    cap.backbone, cap.weights = "resnet101", "imagenet"
    cap.fine_tune_stages = ("conv3", "conv4", "conv5")
    cap.encoded_size = 14
    cap.embedding_dim = cap.attention_dim = cap.decoder_dim = 512
    cap.encoder_lr, cap.decoder_lr = 1e-4, 4e-4
    config_schema.scene_free_captioner(cap)  # ImageNet weights, the paper's decoder
    cap.epochs = 120                             # early stopping after 20 epochs without gain
    cap.eval_beam_sizes = (1, 3, 5)
    lm = config.lm
    lm.preset = DISTILGPT2
    # DistilGPT2's shape, so that --mode=dry_run can build it without the preset's weights.
    lm.num_layers, lm.num_heads, lm.hidden_dim, lm.intermediate_dim = 6, 12, 768, 3072
    lm.max_sequence_length = 1024
    lm.learning_rate = 5e-5
    lm.epochs = 5
    lm.generation.sampler, lm.generation.num_beams = "beam", 2
    enc = config.encoder
    enc.image_backbone, enc.image_weights = "ResNet50", "imagenet"
    enc.epochs = 20
    gan = config.gan
    gan.generator_channels, gan.discriminator_channels = 64, 64
    gan.batch_size = 64
    gan.generator_lr, gan.discriminator_lr, gan.generator_steps = 1e-4, 1e-5, 5
    gan.matching_weight = gan.mode_seeking_weight = 0.0   # GAN-CLS alone, as the paper
    gan.loss, gan.discriminator_conditioning, gan.ema_decay = "bce", "concat", 0.0
    gan.generator_upsampling = "transposed"
    gan.iterations = 20000
    joint = config.joint
    joint.iterations = 10000
    joint.synthetic_batch_size = 32
    joint.log_every, joint.checkpoint_every = 100, 500
    return config
