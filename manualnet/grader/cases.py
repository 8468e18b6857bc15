"""The cases of each exercise, drawn with hypothesis (imported only when grading draws them)."""


def _strategies():
    from hypothesis import strategies as st
    from manualnet.testing.strategies import seeds
    # At least 3 samples: with N = 1 a sum equals its mean, and with N = 2 a missing 1/N looks like a factor 2.
    return st, seeds, st.integers(3, 6), st.integers(2, 5)


def draw_logistic_regression():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "features": features, "seed": seeds})


def draw_linear():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "in_features": features, "out_features": features,
                                  "bias": st.booleans(), "seed": seeds})


def draw_elementwise(**options):
    def draw():
        st, seeds, batch, features = _strategies()
        # Every side at least 2: a softmax over one entry, or a ReLU of one negative number, proves nothing.
        return st.fixed_dictionaries({"shape": st.tuples(batch, features) | st.tuples(batch, features, features),
                                      "seed": seeds, **{name: st.sampled_from(values)
                                                        for name, values in options.items()}})
    return draw


def draw_cross_entropy():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "classes": features, "reduction": st.sampled_from(["mean", "sum"]),
                                  "seed": seeds})


def draw_sequential():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "sizes": st.lists(features, min_size=3, max_size=4).map(tuple),
                                  "seed": seeds})


def draw_dropout():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"shape": st.tuples(batch, features), "p": st.sampled_from([0.2, 0.5, 0.7]),
                                  "training": st.booleans(), "seed": seeds})


def draw_batchnorm():
    st, seeds, batch, features = _strategies()
    return st.fixed_dictionaries({"batch": batch, "features": features, "training": st.booleans(), "seed": seeds})


def _window_geometry(st, smallest_kernel, dilation):
    """kernel_size, stride, padding (at most half the kernel, as pooling needs) and, when ``dilation``,
    dilation, each an (h, w) pair, and an image size (H, W) from the kernel's span d(k − 1) + 1 to three
    more: a window never reads padding alone (max pooling would give −∞)."""
    @st.composite
    def draw(draw):
        kernel = draw(st.tuples(st.integers(smallest_kernel, 3), st.integers(smallest_kernel, 3)))
        geometry = {"kernel_size": kernel, "stride": draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
                    "padding": tuple(draw(st.integers(0, k // 2)) for k in kernel)}
        spread = (1, 1)
        if dilation:
            spread = geometry["dilation"] = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
        geometry["size"] = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, spread))
        return geometry
    return draw()


def draw_conv2d():
    st, seeds, _, _ = _strategies()
    channels = st.integers(1, 3)
    return st.builds(lambda geometry, **rest: {**rest, **geometry}, _window_geometry(st, 1, dilation=True),
                     batch=st.integers(2, 3), in_channels=channels, out_channels=channels, bias=st.booleans(),
                     seed=seeds)


def draw_pool(dilation=False, **options):
    def draw():
        st, seeds, _, _ = _strategies()
        # Windows of at least 2 × 2: a window of one cell pools nothing.
        return st.builds(lambda geometry, **rest: {**rest, **geometry}, _window_geometry(st, 2, dilation),
                         batch=st.integers(2, 3), channels=st.integers(1, 2), seed=seeds,
                         **{name: st.sampled_from(values) for name, values in options.items()})
    return draw

def draw_embedding():
    st, seeds, _, _ = _strategies()
    return st.fixed_dictionaries({"batch": st.integers(2, 3), "length": st.integers(2, 4),
                                  "num_embeddings": st.integers(2, 6), "embedding_dim": st.integers(1, 4),
                                  "seed": seeds})


def draw_lstm_cell():
    st, seeds, _, _ = _strategies()
    return st.fixed_dictionaries({"batch": st.integers(2, 4), "input_size": st.integers(1, 4),
                                  "hidden_size": st.integers(1, 3), "bias": st.booleans(), "seed": seeds})


def draw_sgd():
    st, seeds, _, _ = _strategies()
    from manualnet.testing.strategies import shapes

    def options(momentum, dampening, nesterov, weight_decay, lr):
        return {"lr": lr, "momentum": momentum, "dampening": 0.0 if nesterov else dampening,
                "weight_decay": weight_decay, "nesterov": nesterov and momentum > 0}
    return st.fixed_dictionaries({
        "shapes": st.lists(shapes(max_dims=2), min_size=1, max_size=2),
        "options": st.builds(options, st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 0.5]), st.booleans(),
                             st.sampled_from([0.0, 0.1]), st.sampled_from([0.1, 0.01])),
        "steps": st.integers(3, 5), "seed": seeds})


def draw_adam():
    st, seeds, _, _ = _strategies()
    from manualnet.testing.strategies import shapes
    return st.fixed_dictionaries({
        "shapes": st.lists(shapes(max_dims=2), min_size=1, max_size=2),
        "options": st.fixed_dictionaries({"lr": st.sampled_from([1e-3, 0.1]),
                                          "betas": st.sampled_from([(0.9, 0.999), (0.8, 0.99)]),
                                          "eps": st.just(1e-8), "weight_decay": st.sampled_from([0.0, 0.1])}),
        "steps": st.integers(3, 5), "seed": seeds})
