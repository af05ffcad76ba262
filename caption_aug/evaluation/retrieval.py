"""Cross-modal retrieval with the sentence encoder: image->text and text->image recall@K."""

from typing import Dict, Sequence, Tuple

import numpy as np

from caption_aug.data import pipelines


def recall_at_k(image_embeddings: np.ndarray, text_embeddings: np.ndarray,
                caption_image_index: np.ndarray, ks: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Recall@K both ways, by cosine/dot similarity.

    image->text: an image counts as found when any of its captions is among the K captions most
    similar to it. text->image: a caption counts when its image is among the K most similar images.
    """
    similarity = image_embeddings @ text_embeddings.T            # [images, captions]
    num_images = similarity.shape[0]
    owner = np.asarray(caption_image_index)
    ranked_captions = np.argsort(-similarity, axis=1)
    ranked_images = np.argsort(-similarity.T, axis=1)
    results = {}
    for k in ks:
        hits_i2t = owner[ranked_captions[:, :k]] == np.arange(num_images)[:, None]
        hits_t2i = ranked_images[:, :k] == owner[:, None]
        results[f"image_to_text_r{k}"] = float(hits_i2t.any(axis=1).mean())
        results[f"text_to_image_r{k}"] = float(hits_t2i.any(axis=1).mean())
    return results


def chance_recall(num_images: int, captions_per_image: float, k: int) -> Tuple[float, float]:
    """(image->text, text->image) recall@K of a random ranking, for comparison."""
    num_captions = num_images * captions_per_image
    miss = np.prod([(num_captions - captions_per_image - j) / (num_captions - j)
                    for j in range(k)])
    return float(1 - miss), min(1.0, k / num_images)


def embed_split(encoder, datasets: pipelines.Datasets, split: str, image_size: int,
                normalization: str) -> Tuple[np.ndarray, np.ndarray]:
    """Embeddings of every image [N_images, D] and of every caption [N_captions, D] of a split,
    in split order."""
    image_batches = datasets.eval(split, image_size, normalization)
    image_embeddings = np.concatenate(
        [encoder.embed_image(b["image"]).numpy() for b in image_batches])
    text_embeddings = np.zeros([len(datasets.split(split).flat_captions), encoder.embedding_dim],
                               np.float32)
    for batch in datasets.lm(split, training=False):
        text_embeddings[batch["caption_index"].numpy()] = encoder.embed_text(
            batch["token_ids"], batch["padding_mask"]).numpy()
    return image_embeddings, text_embeddings


def evaluate_retrieval(encoder, datasets: pipelines.Datasets, split: str, image_size: int,
                       normalization: str) -> Dict[str, float]:
    """Recall@1/5 both ways on a split, with the chance levels alongside."""
    image_embeddings, text_embeddings = embed_split(encoder, datasets, split, image_size,
                                                    normalization)
    data = datasets.split(split)
    results = recall_at_k(image_embeddings, text_embeddings, data.caption_image_index)
    captions_per_image = len(data.flat_captions) / data.num_images
    for k in (1, 5):
        results[f"chance_image_to_text_r{k}"], results[f"chance_text_to_image_r{k}"] = (
            chance_recall(data.num_images, captions_per_image, k))
    return results
