"""User methods in Python: SET and RigL written as drop/grow callables give
the built-ins' masks and weights bit for bit; a raising callback gives a
Python exception (no crash) and changes nothing; the callables outlive the
objects they were given to; checkpoints of a user run; arguments. Runs with
and without NumPy (the callables get NumPy views, or ctypes arrays)."""
import array
import gc
import os
import subprocess
import sys
import tempfile
import unittest

import sparsetrain as spt

from _util import blobs

np = None
if spt.HAVE_NUMPY:  # the binding uses NumPy: the tests may too
    import numpy as np

F, H, K, BATCH, STEPS, DT = 8, 40, 3, 16, 30, 4


# ---- criteria, with or without NumPy -----------------------------------------

def magnitude(L):
    if np is not None:
        return np.abs(L.values)
    return [abs(v) for v in L.values]


def gradient_magnitude(L):
    if np is not None:
        np.abs(L.dense_grad, out=L.score)  # in place: nothing returned
        return None
    L.score[:] = [abs(g) for g in L.dense_grad]
    return None


def user_set(drop=magnitude):
    return spt.UserMethod("py-set", drop=drop, grow="random", update="after_step")


def user_rigl(grow=gradient_magnitude):
    if grow == "gradient":
        return spt.UserMethod("py-rigl", drop=magnitude, grow="gradient", update="before_step")
    return spt.UserMethod("py-rigl", drop=magnitude, grow=grow, grow_uses_gradient=True, update="before_step")


# ---- runs -------------------------------------------------------------------

def batches():
    """STEPS feature-major batches (F x BATCH) of an easy problem."""
    xs, ys = blobs(STEPS * BATCH, F, K, seed=7)
    return [(spt.to_feature_major(xs[s * BATCH:(s + 1) * BATCH]), ys[s * BATCH:(s + 1) * BATCH])
            for s in range(STEPS)]


def start(method):
    """A run of a built-in method (a name) or of a UserMethod, same knobs."""
    model = spt.Model.mlp([F, H, H, K], seed=5)
    opt = spt.Optimizer("sgd", lr=0.05, momentum=0.9)
    cfg = spt.MethodConfig(method, sparsity=0.8, delta_t=DT, seed=11)
    return spt.Trainer(model, opt, None, cfg, total_steps=STEPS, seed=3)


def f32_bytes(values):
    """The exact bytes of float32 values (a NumPy array or a list)."""
    if np is not None:
        return np.ascontiguousarray(values, dtype=np.float32).tobytes()
    return array.array("f", values).tobytes()


def state(trainer, x):
    """Every weight layer's pattern and value bytes, and the logits' bytes."""
    model = trainer.model
    out = []
    for L in model.weight_layers():
        row_ptr, col_idx, values = model.weight_csr(L.index)
        out.append((L.name, list(row_ptr), list(col_idx), f32_bytes(values)))
    logits = model.forward(x)
    out.append(f32_bytes(logits.ravel() if np is not None else [v for row in logits for v in row]))
    return out


class TestReproduceBuiltins(unittest.TestCase):
    def lockstep(self, builtin, user, calls=None):
        data = batches()
        a, b = start(builtin), start(user)
        masks0 = state(b, data[0][0])[:-1]
        for s, (x, y) in enumerate(data):
            self.assertEqual(a.step(x, y), b.step(x, y))
            self.assertEqual(state(a, x), state(b, x), "step %d" % s)
        _, count_a = a.last_update()
        _, count_b = b.last_update()
        self.assertEqual(count_a, count_b)
        self.assertGreaterEqual(count_b, 3)
        self.assertNotEqual(masks0, state(b, data[0][0])[:-1])  # the topology did move
        if calls is not None:
            self.assertGreater(len(calls), 0)
        return b

    def test_set(self):
        calls = []

        def drop(L):
            calls.append(L.layer)
            return magnitude(L)
        self.lockstep("set", user_set(drop), calls)

    def test_set_default_drop(self):
        self.lockstep("set", user_set(drop=None))

    def test_rigl_gradient_callback(self):
        calls = []

        def grow(L):
            calls.append((L.step, L.layer))
            return gradient_magnitude(L)
        self.lockstep("rigl", user_rigl(grow), calls)
        self.assertEqual(sorted(set(s for s, _ in calls)), [s for s in range(DT, STEPS, DT) if s < 0.75 * STEPS])

    def test_rigl_streamed_gradient(self):
        self.lockstep("rigl", user_rigl("gradient"))

    def test_rigl_returned_nested_scores(self):
        # Returning rows x cols scores (nested lists without NumPy) works too.
        def grow(L):
            if np is not None:
                return np.abs(L.dense_grad).astype(np.float64)  # converted to float32: same values
            g = L.dense_grad
            return [[abs(g[r * L.cols + c]) for c in range(L.cols)] for r in range(L.rows)]
        self.lockstep("rigl", user_rigl(grow))


class TestCallbackArguments(unittest.TestCase):
    def test_arrays(self):
        seen = []

        def drop(L):
            self.assertEqual(len(L.row_ptr), L.rows + 1)
            self.assertEqual(L.row_ptr[L.rows], L.nnz)
            self.assertEqual(len(L.col_idx), L.nnz)
            self.assertEqual(len(L.values), L.nnz)
            self.assertEqual(len(L.score), L.nnz)
            self.assertIsNone(L.dense_grad)
            self.assertTrue(all(0 <= c < L.cols for c in L.col_idx))
            if np is not None:
                self.assertEqual((L.row_ptr.dtype, L.col_idx.dtype, L.values.dtype, L.score.dtype),
                                 (np.int64, np.int32, np.float32, np.float32))
                self.assertFalse(L.values.flags.writeable)
                self.assertTrue(L.score.flags.writeable)
            seen.append(("drop", L.layer, L.step, L.rows, L.cols, L.nnz, L.seed))
            return magnitude(L)

        def grow(L):
            if np is not None:
                self.assertEqual(L.dense_grad.shape, (L.rows, L.cols))
                self.assertEqual(L.score.shape, (L.rows, L.cols))
                self.assertFalse(L.dense_grad.flags.writeable)
                self.assertEqual(L.dense_grad.dtype, np.float32)
            else:
                self.assertEqual(len(L.dense_grad), L.rows * L.cols)
                self.assertEqual(len(L.score), L.rows * L.cols)
            seen.append(("grow", L.layer, L.step, L.rows, L.cols, L.nnz, L.seed))
            return gradient_magnitude(L)

        tr = start(spt.UserMethod("py-rigl", drop=drop, grow=grow, grow_uses_gradient=True, update="before_step"))
        shapes = {L.index: (L.rows, L.cols) for L in tr.model.weight_layers()}
        for x, y in batches()[:DT + 1]:
            tr.step(x, y)
        # One update (step DT), every layer: drop then grow, layer by layer.
        self.assertEqual([(w, l, s) for w, l, s, *_ in seen],
                         [(w, l, DT) for l in range(3) for w in ("drop", "grow")])
        self.assertEqual([(r, c) for _, _, _, r, c, _, _ in seen[::2]], list(shapes.values()))
        self.assertTrue(all(isinstance(e[6], int) and e[6] >= 0 for e in seen))
        self.assertEqual(len(set(e[6] for e in seen[::2])), 3)  # a seed per layer

    def test_grow_without_gradient(self):
        got = []

        def grow(L):
            got.append(L.dense_grad)
            return [float(i % 7) for i in range(L.rows * L.cols)]  # any sequence of the right size
        tr = start(spt.UserMethod("by-index", grow=grow))
        for x, y in batches()[:DT + 1]:
            tr.step(x, y)
        self.assertEqual(got, [None] * 3)


class TestCallbackErrors(unittest.TestCase):
    def test_exception_is_reraised_and_nothing_changes(self):
        fail = [True]

        class Boom(Exception):
            pass

        def grow(L):
            if fail[0]:
                raise Boom("no scores for layer %d" % L.layer)
            return gradient_magnitude(L)
        data = batches()
        tr, ref = start(user_rigl(grow)), start(user_rigl())
        for x, y in data[:DT]:
            tr.step(x, y)
            ref.step(x, y)
        x, y = data[DT]
        with self.assertRaises(Boom) as cm:
            tr.step(x, y)
        self.assertIn("no scores for layer 0", str(cm.exception))
        if hasattr(cm.exception, "__notes__"):
            note = cm.exception.__notes__[-1]
            self.assertIn("py-rigl", note)
            self.assertIn("grow callback", note)
            self.assertIn("step %d" % DT, note)
        self.assertEqual(tr.steps_done, DT)  # the failed step did nothing
        self.assertEqual(state(tr, x), state(ref, x))
        # Once the callback works the run goes on as if nothing had happened.
        fail[0] = False
        for x, y in data[DT:]:
            self.assertEqual(tr.step(x, y), ref.step(x, y))
        self.assertEqual(state(tr, x), state(ref, x))

    def test_drop_exception_in_train_epoch(self):
        def drop(L):
            raise KeyError("drop")
        xs, ys = blobs(64, F, K, seed=2)
        batcher = spt.Batcher(spt.Dataset.from_arrays(xs, ys), BATCH, seed=1)
        tr = start(spt.UserMethod("bad-drop", drop=drop))  # updates after the optimizer step
        with self.assertRaises(KeyError):
            for _ in range(3):
                tr.train_epoch(batcher)
        self.assertEqual(tr.steps_done, DT + 1)  # the optimizer step of the update step was done
        # With a progress callback too: the next update step fails the same way.
        with self.assertRaises(KeyError):
            for _ in range(3):
                tr.train_epoch(batcher, lambda p: None)
        self.assertEqual(tr.steps_done, 2 * DT + 1)

    def test_wrong_number_of_scores(self):
        tr = start(spt.UserMethod("short", drop=lambda L: [1.0, 2.0]))
        data = batches()
        for x, y in data[:DT]:
            tr.step(x, y)
        masks = [row[:3] for row in state(tr, x)[:-1]]
        with self.assertRaises(ValueError) as cm:
            tr.step(*data[DT])
        self.assertIn("2 scores", str(cm.exception))
        # After the optimizer step (SET's update point): that step counts, the topology stays.
        self.assertEqual(tr.steps_done, DT + 1)
        self.assertEqual(masks, [row[:3] for row in state(tr, x)[:-1]])

    def test_library_failure_is_not_masked(self):
        # A failure of the C call that no callback caused raises the library's error.
        tr = start(user_set())
        x, y = batches()[0]
        with self.assertRaises(spt.Error) as cm:
            tr.step(x, [K] * BATCH)  # a label out of range
        self.assertNotEqual(cm.exception.status, spt.errors.ERR_CALLBACK)


class TestLifetime(unittest.TestCase):
    def test_callables_outlive_their_owners(self):
        calls = []

        def make():
            um = spt.UserMethod("temp", drop=lambda L: calls.append(L.layer) or magnitude(L),
                                grow=lambda L: gradient_magnitude(L), grow_uses_gradient=True, update="before_step")
            cfg = um.config(sparsity=0.8, delta_t=DT, seed=11)
            um.close()  # frees the C handle only: the configuration holds a copy
            self.assertTrue(um.closed)
            model = spt.Model.mlp([F, H, H, K], seed=5)
            tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05, momentum=0.9), None, cfg, total_steps=STEPS)
            cfg.close()
            return tr
        tr = make()
        gc.collect()
        for x, y in batches():
            tr.step(x, y)
        self.assertGreater(len(calls), 0)
        self.assertEqual(tr.user_method.name, "temp")


@unittest.skipUnless(spt.checkpoint.available(), "the library has no checkpoint functions")
class TestCheckpoint(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "user.ckpt")

    def tearDown(self):
        self.dir.cleanup()

    def test_resume_with_the_method(self):
        data = batches()
        um = user_rigl()
        a = start(um)
        for x, y in data[:2 * DT + 1]:
            a.step(x, y)
        a.save(self.path)
        with self.assertRaises(spt.StateError):
            spt.checkpoint.load(self.path)  # the callables are not in the file
        with self.assertRaises(spt.StateError):
            spt.checkpoint.load(self.path, user_method=spt.UserMethod("other-name"))
        b = spt.Trainer.load(self.path, user_method=um)
        self.assertIs(b.user_method, um)
        self.assertEqual(b.steps_done, 2 * DT + 1)
        for x, y in data[2 * DT + 1:]:
            self.assertEqual(a.step(x, y), b.step(x, y))
            self.assertEqual(state(a, x), state(b, x))


class TestArguments(unittest.TestCase):
    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            spt.UserMethod("x", grow="magnitude")
        with self.assertRaises(ValueError):
            spt.UserMethod("x", grow="random", grow_uses_gradient=True)
        with self.assertRaises(ValueError):
            spt.UserMethod("x", update="never")
        with self.assertRaises(TypeError):
            spt.UserMethod("x", drop="magnitude")
        with self.assertRaises(spt.InvalidError):
            spt.UserMethod("")
        with self.assertRaises(spt.InvalidError):
            spt.UserMethod("n" * 48)

    def test_config(self):
        um = user_rigl()
        cfg = spt.MethodConfig(um, sparsity=0.7, delta_t=10)
        self.assertEqual(cfg.method, "user")
        self.assertIs(cfg.user_method, um)
        self.assertAlmostEqual(cfg.get("sparsity"), 0.7)
        self.assertEqual(cfg.get("delta_t"), 10)
        self.assertEqual(cfg.get("alpha"), spt.MethodConfig("rigl").get("alpha"))  # the dynamic methods' defaults
        self.assertIn("py-rigl", repr(cfg))
        self.assertIn("py-rigl", repr(um))
        self.assertIsNone(spt.MethodConfig("rigl").user_method)


@unittest.skipUnless(os.path.exists(os.path.join(spt.FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")),
                     "Fashion-MNIST is not installed (Debian: dataset-fashion-mnist)")
class TestExample(unittest.TestCase):
    def test_user_method_example(self):
        here = os.path.dirname(os.path.abspath(__file__))
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(spt.__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p))
        out = subprocess.run([sys.executable, os.path.join(here, "..", "examples", "user_method.py"), "--steps", "30",
                              "--limit", "2000"], capture_output=True, text=True, timeout=300, env=env)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("OK", out.stdout)
        self.assertIn("my-rigl  topology updates   1", out.stdout)


if __name__ == "__main__":
    unittest.main()
