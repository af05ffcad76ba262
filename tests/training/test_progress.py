"""Progress lines: a Keras fit counts its steps into the phase's progress line, to 100%."""

import keras
import numpy as np

from caption_aug import progress


def test_keras_fit_counts_every_step_and_finishes_at_the_total():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    callback = progress.KerasProgress("toy steps", 3)
    model.fit(np.zeros((6, 2)), np.zeros((6, 1)), batch_size=2, epochs=1, verbose=0,
              callbacks=[callback])
    assert callback.done == 3
    assert callback.meter.line(callback.done).startswith("toy steps: 3/3 (100%)")
