"""Validation of raw Examples: every image decoded once, every caption checked; bad items counted.

This runs once when data is prepared (and is cached per file), so the training pipelines never
meet an undecodable image or an unusable caption and need no error handling on their hot path.
"""

import concurrent.futures
import json
import os
from typing import Iterable, List, Optional, Union

import tensorflow as tf

from caption_aug.data import example as example_lib
from caption_aug.text import normalize


def image_problem(image: Union[str, bytes]) -> Optional[str]:
    """Why an image (path or encoded bytes) is unusable, or None when TensorFlow decodes it to RGB."""
    if isinstance(image, str):
        if not os.path.isfile(image):
            return "image_missing"
        if os.path.getsize(image) == 0:
            return "image_empty"
        image = tf.io.read_file(image)
    elif not image:
        return "image_empty"
    try:
        pixels = tf.io.decode_image(image, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError:
        return "image_undecodable"
    return None if pixels.shape[0] and pixels.shape[1] else "image_undecodable"


class ImageCheckCache:
    """Remembers each file's check keyed by (path, size, mtime), so a rerun re-decodes only changed files."""

    def __init__(self, path: Optional[str]):
        self._path = path
        self._entries = {}
        if path and os.path.exists(path):
            with open(path) as f:
                self._entries = json.load(f)

    @staticmethod
    def _stamp(path: str) -> list:
        stat = os.stat(path)
        return [stat.st_size, stat.st_mtime_ns]

    def get(self, path: str):
        """(found, problem) for a file checked before and unchanged since."""
        entry = self._entries.get(path)
        if entry is None or not os.path.isfile(path) or entry[0] != self._stamp(path):
            return False, None
        return True, entry[1]

    def put(self, path: str, problem: Optional[str]) -> None:
        if os.path.isfile(path):
            self._entries[path] = [self._stamp(path), problem]

    def save(self) -> None:
        if self._path:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            with open(self._path, "w") as f:
                json.dump(self._entries, f)


def _image_problems(examples: List[example_lib.Example], cache: ImageCheckCache,
                    num_threads: int) -> List[Optional[str]]:
    """Checks all images in a thread pool (TensorFlow's decoders release the GIL)."""
    problems = [None] * len(examples)
    todo = []
    for k, ex in enumerate(examples):
        found, problem = cache.get(ex.image) if isinstance(ex.image, str) else (False, None)
        if found:
            problems[k] = problem
        else:
            todo.append(k)
    with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
        for k, problem in zip(todo, pool.map(lambda k: image_problem(examples[k].image), todo)):
            problems[k] = problem
            if isinstance(examples[k].image, str):
                cache.put(examples[k].image, problem)
    cache.save()
    return problems


def clean_examples(examples: Iterable[example_lib.Example], max_words: int,
                   skips: example_lib.SkipCounter, cache: Optional[ImageCheckCache] = None,
                   num_threads: int = 4) -> List[example_lib.Example]:
    """The usable examples, captions normalised; each dropped image or caption counted by reason."""
    examples = list(examples)
    problems = _image_problems(examples, cache or ImageCheckCache(None), num_threads)
    clean = []
    for ex, problem in zip(examples, problems):
        where = ex.image if isinstance(ex.image, str) else f"image_id={ex.image_id}"
        if problem:
            skips.skip(problem, where)
            continue
        captions = []
        for caption in ex.captions:
            caption_issue = normalize.caption_problem(caption, max_words)
            if caption_issue:
                skips.skip(caption_issue, f"{where}: {caption[:60]!r}")
            else:
                captions.append(normalize.normalize_caption(caption))
        if not captions:
            skips.skip("image_without_valid_captions", where)
            continue
        clean.append(example_lib.Example(ex.image_id, ex.image, tuple(captions), ex.metadata))
    return clean
