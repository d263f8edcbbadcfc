"""Compiled baseline models in their seeded initial state, re-used between model groups."""

from __future__ import annotations


class SeededModels:
    """Compiled models in their seeded initial state, one compiled model per architecture.

    Every baseline model starts from the weights that ``keras.utils.set_random_seed(seed)``
    followed by building gives, so models of the same architecture (one per machine type) start
    identically anyway. Tracing the training step of the MobileNetV2 costs about 15 s of
    single-threaded Python (some 27,000 graph operations), more than training itself on the
    default data, so instead of building and tracing a new model per machine type, the compiled
    model is reset to its initial weights and optimiser state, trained, and copied out
    (:func:`detached_copy`).
    """

    def __init__(self, seed: int):
        self._seed = int(seed)
        self._cache: dict = {}

    def initial(self, architecture: tuple, build, learning_rate: float, **compile_kwargs):
        """The compiled model of ``architecture`` (built by ``build()``), reset to its start."""
        import keras

        keras.utils.set_random_seed(self._seed)
        if architecture not in self._cache:
            model = build()
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate=learning_rate), **compile_kwargs
            )
            model.optimizer.build(model.trainable_variables)
            state = (model.get_weights(), [v.numpy() for v in model.optimizer.variables])
            self._cache[architecture] = (model, state)
            return model
        model, (weights, optimizer_values) = self._cache[architecture]
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, optimizer_values):
            variable.assign(value)
        return model

    def fit(self, architecture: tuple, build, inputs, targets, *, learning_rate: float,
            epochs: int, batch_size: int, validation_split: float, verbose: int,
            **compile_kwargs):
        """The model of ``architecture`` trained from its start on (inputs, targets), detached.

        Both baselines train as the official code: shuffled batches, and Keras' own
        ``validation_split`` (the last fraction of the inputs, in the given order, is held out).
        """
        model = self.initial(architecture, build, learning_rate, **compile_kwargs)
        model.fit(
            inputs,
            targets,
            epochs=int(epochs),
            batch_size=int(batch_size),
            shuffle=True,
            validation_split=float(validation_split),
            verbose=verbose,
        )
        return detached_copy(model)


def detached_copy(model):
    """An independent (uncompiled) copy of a model with its current weights."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
