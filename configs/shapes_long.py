"""caption_shapes with the GAN at 64x64, the size where shape is readable (README, Stage 2).

The sentence encoder reads 64x64 images too, its image side first pretrained as a colour/shape
classifier (`encoder.image_pretrain_steps`), so that the generator's matching loss can see shape;
the generator is conditioned at every upsampling layer (`gan.generator_text_modulation`); and the
GAN trains a fixed derived discriminator (all sep_conv_3x3, about 5x faster than the supernet at
64x64). So it is a config for the GAN stage: `--mode=all` and `--mode=joint` refuse it in one
line, since the joint phase searches B, which only the supernet has. The attribute classifier
trains 1,600 steps (its shape ceiling: 0.97-0.99 on three seeds).

  python train_main.py --config=configs/shapes_long.py --workdir=runs/long --mode=train_encoder
  python train_main.py --config=configs/shapes_long.py --workdir=runs/long --mode=train_gan
"""

import os

from configs import shapes

DISCRIMINATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "shapes_long_discriminator.json")


def get_config():
    config = shapes.get_config()
    config.pipeline.gan_image_size = 64
    config.pipeline.encoder_image_size = 64
    config.encoder.image_pretrain_steps = 1600
    config.gan.generator_text_modulation = True
    config.gan.derived_architecture = DISCRIMINATOR
    config.attribute_classifier.steps = 1600
    return config
