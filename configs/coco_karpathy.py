"""The paper's MS-COCO run on the Karpathy split (GPU). Point it at your files:

  python train_main.py --config=configs/coco_karpathy.py --workdir=runs/coco \
      --config.data.karpathy.json=/data/dataset_coco.json --config.data.karpathy.image_dir=/data/coco
"""

from configs import paper


def get_config():
    config = paper.get_config()
    config.data.karpathy.json = "data/karpathy/dataset_coco.json"
    config.data.karpathy.image_dir = "data/coco"
    return config
