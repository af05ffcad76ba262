"""caption_aug: learned synthetic-data augmentation for image captioning (Keras 3 / TensorFlow)."""

__version__ = "0.1.0"
