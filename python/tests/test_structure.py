"""Structured sparsity through the method parameters: fanin and n:m RigL
keep their invariant after every step; unsupported combinations raise."""
import unittest

import sparsetrain as spt

from _util import blobs


def run(method, steps=12, **knobs):
    xs, ys = blobs(64, 12, 3, seed=2)
    x = spt.to_feature_major(xs)
    model = spt.Model.mlp([12, 32, 24, 3], seed=2)
    cfg = spt.MethodConfig(method, sparsity=0.75, delta_t=2, seed=3, **knobs)
    tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05, momentum=0.9), None, cfg, total_steps=steps)
    return model, tr, x, ys


def rows_of(model, layer):
    rp, ci, _ = model.weight_csr(layer)
    rp, ci = list(rp), list(ci)
    return [ci[rp[r]:rp[r + 1]] for r in range(len(rp) - 1)]


class TestStructure(unittest.TestCase):
    def test_names(self):
        self.assertEqual(spt.STRUCTURES["fanin"], 4)
        self.assertEqual(spt.STRUCTURES["n:m"], spt.STRUCTURES["nm"])
        self.assertIn("structure", spt.method_params("rigl"))
        self.assertEqual(spt.method_params("rigl")["structure"].default, "unstructured")
        self.assertTrue(spt.supports_structure("rigl", "fanin"))
        self.assertTrue(spt.supports_structure("set", "n:m"))
        self.assertFalse(spt.supports_structure("gmp", "fanin"))
        self.assertTrue(spt.supports_structure("gmp", "unstructured"))
        with self.assertRaises(spt.InvalidError):
            spt.supports_structure("rigl", "diagonal")
        ab = spt.method_params("rigl")["ablation"]
        self.assertEqual((ab.lo, ab.hi, ab.default), (0.0, 1.0, 0.0))
        self.assertNotIn("ablation", spt.method_params("set"))
        self.assertTrue(spt.supports_structure("gmp", "channel"))
        self.assertTrue(spt.supports_structure("rigl", "kernel"))

    def test_fanin_rigl(self):
        model, tr, x, ys = run("rigl", structure="fanin")
        sparse = [L.index for L in model.weight_layers() if L.nnz < L.rows * L.cols]
        self.assertGreaterEqual(len(sparse), 2)
        updates = 0
        for _ in range(12):
            tr.step(x, ys)
            updates += tr.last_update()[0]
            for i in sparse:
                counts = {len(r) for r in rows_of(model, i)}
                self.assertEqual(len(counts), 1)  # every row: the same fan-in
        self.assertGreater(updates, 0)

    def test_nm_set(self):
        model, tr, x, ys = run("set", structure="n:m", structure_n=1, structure_m=3)
        for _ in range(12):
            tr.step(x, ys)
            for L in model.weight_layers():
                if L.nnz == L.rows * L.cols:
                    continue
                for cols in rows_of(model, L.index):
                    groups = [c // 3 for c in cols]
                    self.assertEqual(len(groups), len(set(groups)))  # at most 1 per group of 3

    def test_fanin_ablation(self):
        model, tr, x, ys = run("rigl", structure="fanin", ablation=0.9)
        for _ in range(12):
            tr.step(x, ys)
            for L in model.weight_layers():
                if L.nnz == L.rows * L.cols:
                    continue
                counts = {len(r) for r in rows_of(model, L.index)} - {0}  # ablated rows hold nothing
                self.assertEqual(len(counts), 1)

    def test_unsupported(self):
        xs, ys = blobs(16, 12, 3, seed=2)
        model = spt.Model.mlp([12, 32, 3], seed=2)
        with self.assertRaises(spt.UnsupportedError) as e:
            spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), None, spt.MethodConfig("gmp", structure="fanin"),
                        total_steps=10)
        self.assertIn("fanin", str(e.exception))


if __name__ == "__main__":
    unittest.main()
