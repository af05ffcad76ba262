"""A model's variable values as explicit tensors, for Keras 3's `stateless_call`: the GAN steps
and the joint hypergradient run models on weights they hold apart from the model's variables."""


def model_state(model) -> tuple:
    """(trainable, non_trainable) variable values of `model`."""
    return ([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables])
