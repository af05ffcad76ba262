"""Lists of layers that tf.train.Checkpoint saves.

Keras 3 tracks a list attribute's layers for `variables` and training, but on TensorFlow 2.21
`tf.train.Checkpoint` does not follow list attributes (Keras' TrackedList is no TF trackable):
without this, the checkpoint of a model keeping layers in lists silently drops their weights and
a resumed run restarts them from scratch.
"""


def checkpointed(owner, name: str, items: list) -> list:
    """Also sets each layer of `items` as the attribute `{name}_{k}` of `owner` (a Keras layer),
    which tf.train.Checkpoint follows; returns `items` for the list attribute."""
    for k, item in enumerate(items):
        setattr(owner, f"{name}_{k}", item)
    return items
