"""Checkpoint save/load round trip (when the library has checkpoints)."""
import os
import tempfile
import unittest

import sparsetrain as spt

from _util import blobs


@unittest.skipUnless(spt.checkpoint.available(), "the library has no checkpoint functions")
class TestCheckpoint(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "run.ckpt")

    def tearDown(self):
        self.dir.cleanup()

    def run_batches(self, trainer, batcher, k):
        return [trainer.step(x, y)[0] for _, (x, y) in zip(range(k), iter(batcher.next, None))]

    def test_resume_is_exact(self):
        xs, ys = blobs(40, 5, 3, seed=4)
        ds = spt.Dataset.from_arrays(xs, ys)
        b = spt.Batcher(ds, 8, seed=2)
        model = spt.Model.mlp([5, 12, 3], seed=4)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.1, momentum=0.9), spt.LRSchedule("cosine", base=0.1),
                         spt.MethodConfig("rigl", sparsity=0.5, delta_t=2), total_steps=30, seed=4)
        self.run_batches(tr, b, 3)
        tr.save(self.path, b)
        self.assertTrue(os.path.exists(self.path))
        expect = self.run_batches(tr, b, 4)

        b2 = spt.Batcher(ds, 8, seed=99)
        tr2 = spt.checkpoint.load(self.path, b2)
        self.assertEqual(tr2.steps_done, 3)
        self.assertEqual(b2.state[2], 2)  # the saved seed
        self.assertEqual(self.run_batches(tr2, b2, 4), expect)
        for L in model.weight_layers():
            self.assertEqual(list(model.weight_csr(L.index)[2]), list(tr2.model.weight_csr(L.index)[2]))
        self.assertEqual(tr2.layer_densities(), tr.layer_densities())

    def test_load_errors(self):
        with self.assertRaises(spt.FileIOError) as cm:
            spt.checkpoint.load(self.path)
        self.assertIn("run.ckpt", str(cm.exception))
        with open(self.path, "wb") as f:
            f.write(b"not a checkpoint at all" * 4)
        with self.assertRaises(spt.FormatError):
            spt.checkpoint.load(self.path)


if __name__ == "__main__":
    unittest.main()
