"""caption_aug: learned synthetic-data augmentation for image captioning."""

import setuptools

setuptools.setup(
    name="caption_aug",
    version="0.1.0",
    description="Learned synthetic-data augmentation for image captioning (Keras 3 / TensorFlow).",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["caption_aug", "caption_aug.*"]),
    py_modules=["train_main"],
    install_requires=[
        "tensorflow~=2.21.0",
        "keras>=3.10,<4",
        "keras-hub>=0.32,<0.33",
        "tensorflow-datasets>=4.9.10,<5",
        "importlib-resources>=6",  # tfds 4.9.10 imports it but declares it only for Python < 3.9
        "pycocotools>=2.0.8,<3",
        "nltk>=3.9,<4",
        "absl-py>=2.1,<3",
        "ml-collections>=1.0,<2",
        "tokenizers>=0.20,<1",
        "numpy>=1.26,<3",
        "pillow>=10,<14",
        "matplotlib>=3.8,<4",
        "tensorboard~=2.21.0",  # tf.summary writers (training curves, example tables); TF lacks it
    ],
    extras_require={
        "test": ["pytest>=8,<10", "pytest-xdist>=3,<4", "filelock>=3,<5"],
        "coco-eval": ["pycocoevalcap>=1.2,<2"],
    },
    entry_points={
        "console_scripts": [
            "caption_aug_eval=caption_aug.evaluation.eval_main:run",
            "caption_aug_caption=caption_aug.export.caption_main:run",  # captioner (stage 3)
        ],
    },
)
