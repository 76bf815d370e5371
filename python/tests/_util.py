"""Shared helpers of the binding's tests: synthetic data without NumPy."""
import random


def blobs(n, features, classes, seed=0, spread=0.4):
    """n examples (lists of floats, example-major N x F) around `classes`
    random centres, with their labels: an easy, learnable problem."""
    rng = random.Random(seed)
    centres = [[rng.gauss(0, 1) for _ in range(features)] for _ in range(classes)]
    xs, ys = [], []
    for i in range(n):
        k = i % classes
        xs.append([c + rng.gauss(0, spread) for c in centres[k]])
        ys.append(k)
    return xs, ys


def flat(rows):
    return [v for r in rows for v in r]
