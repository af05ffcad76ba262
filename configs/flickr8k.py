"""The paper's Flickr8k run on the Karpathy split (GPU). Point it at your files:

  python train_main.py --config=configs/flickr8k.py --workdir=runs/flickr8k \
      --config.data.karpathy.json=/data/dataset_flickr8k.json \
      --config.data.karpathy.image_dir=/data/Flicker8k_Dataset
"""

from configs import paper


def get_config():
    config = paper.get_config()
    config.data.karpathy.json = "data/karpathy/dataset_flickr8k.json"
    config.data.karpathy.image_dir = "data/flickr8k/images"
    config.joint.iterations = 3000               # 6k training images against COCO's 113k
    return config
