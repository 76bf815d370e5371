"""Checkpoints of format version 1 (written before networks were
descriptions, by the MLP and ResNet builders) still load, with every
layer's state in its place: the logits of a fixed batch in evaluation mode
(batch norm on its running statistics) are those the writing library
printed. The files, tests/data/v1-*.ckpt, were written by libsparsetrain at
commit d1d1e6f: a 12-16-8-3 MLP and a ResNet (3 x 4 x 4 input, 1 block per
stage, 3 classes), both seed 2, RigL at 50% with delta_t 2, SGD lr 0.05
momentum 0.9, 5 steps on batches of 4 from random.Random(100 + step)."""
import os
import random
import unittest

import sparsetrain as spt

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")

# First 12 logits (K x N, class-major) of the batch from random.Random(999),
# as the writing library computed them after the 5 steps.
EXPECTED = {
    "mlp": (12, [0.559354365, 0.00658902526, -0.32735756, 0.266068488, 0.263340592, -0.596918046, -0.252170324,
                 0.208541155, -0.0166097395, 1.85773182, 0.574366033, 0.289489895]),
    "resnet": (48, [1.512133, 0.0974194705, 1.52920187, -1.22536933, -0.964665651, -0.440033287, 1.54736114,
                    2.42715549, 0.644471943, 0.104978897, -3.10624433, -2.86758018]),
}


def batch(n, feat, k, seed):
    r = random.Random(seed)
    x = [r.gauss(0, 1) for _ in range(feat * n)]
    y = [r.randrange(k) for _ in range(n)]
    return x, y


@unittest.skipUnless(spt.checkpoint.available(), "the library has no checkpoint functions")
class TestCheckpointV1(unittest.TestCase):
    def test_v1_files_load_and_resume(self):
        for kind, (feat, want) in EXPECTED.items():
            with self.subTest(kind=kind):
                t = spt.checkpoint.load(os.path.join(DATA, "v1-%s.ckpt" % kind))
                self.assertEqual(t.steps_done, 5)
                x, _ = batch(4, feat, 3, 999)
                got = list(t.model.forward(x))
                flat = [float(v) for row in got for v in (row if hasattr(row, "__iter__") else [row])]
                for g, w in zip(flat[:12], want):
                    self.assertAlmostEqual(g, w, delta=1e-4 * (1 + abs(w)))
                x, y = batch(4, feat, 3, 105)
                t.step(x, y)  # and training goes on
                self.assertEqual(t.steps_done, 6)


if __name__ == "__main__":
    unittest.main()
