"""Handles used from several Python threads (ctypes releases the GIL during
C calls, so library calls really do run at once): distinct trainers give the
bits they give alone; calls on one handle run one at a time; close() waits
for a running call, and later calls raise ClosedError instead of reaching a
freed C object."""
import os
import re
import threading
import time
import unittest

import sparsetrain as spt

from _util import blobs

STEPS = 12


def _flat(v):
    """A weight array (NumPy or nested lists) as a flat list of floats."""
    if hasattr(v, "ravel"):
        return [float(x) for x in v.ravel()]
    return [float(x) for row in v for x in row]


def make_run(seed, total_steps=STEPS):
    """A small RigL run (its own data, model and trainer) of a given seed."""
    xs, ys = blobs(64, 16, 4, seed=seed)
    x = spt.to_feature_major(xs)
    model = spt.Model.mlp([16, 64, 4], seed=seed)
    trainer = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05, momentum=0.9), spt.LRSchedule("constant", base=0.05),
                          spt.MethodConfig("rigl", sparsity=0.7, delta_t=2, distribution="uniform"),
                          total_steps=total_steps, seed=seed)
    return x, ys, model, trainer


def train(run):
    """Losses of STEPS steps, then every weight layer's values, the sparsity
    and the evaluation on the run's data."""
    x, ys, model, trainer = run
    losses = [trainer.step(x, ys) for _ in range(STEPS)]
    weights = [_flat(model.weight_dense(L.index)) for L in model.weight_layers()]
    return losses, weights, trainer.sparsity(), model.evaluate(x, ys)


class TestDistinctHandles(unittest.TestCase):
    # One OpenMP thread per call: concurrent calls each start their own team,
    # and teams of all cores on each of several threads oversubscribe the
    # machine (slow, not wrong). Global state: set before the threads start.
    @classmethod
    def setUpClass(cls):
        cls.threads = spt.get_num_threads()
        spt.set_num_threads(1)

    @classmethod
    def tearDownClass(cls):
        spt.set_num_threads(cls.threads)

    def test_concurrent_trainers_match_sequential(self):
        seeds = (1, 2, 3)
        alone = {}
        for s in seeds:
            run = make_run(s)
            alone[s] = train(run)
            run[3].close()
        runs = {s: make_run(s) for s in seeds}
        together, failures = {}, []
        start = threading.Barrier(len(seeds))

        def worker(s):
            try:
                start.wait()
                together[s] = train(runs[s])
            except BaseException as e:  # noqa: B902 - reported by the main thread
                failures.append((s, e))

        threads = [threading.Thread(target=worker, args=(s,)) for s in seeds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        for s in seeds:
            self.assertEqual(together[s], alone[s], "seed %d" % s)  # bit for bit: floats compared exactly
        self.assertNotEqual(alone[1][0], alone[2][0])  # the runs differ: the comparison means something

    def test_concurrent_epochs_over_one_dataset(self):
        # Two trainers whose batchers read one dataset (C allows concurrent
        # reads of a dataset): each matches its run alone.
        xs, ys = blobs(96, 8, 3, seed=5)

        def run(ds, seed):
            model = spt.Model.mlp([8, 24, 3], seed=seed)
            batcher = spt.Batcher(ds, 16, seed=seed)
            tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), method=spt.MethodConfig("set", sparsity=0.5),
                             total_steps=3 * len(batcher), seed=seed)
            return [tr.train_epoch(batcher) for _ in range(3)] + [tr.evaluate(ds, batch=32)]

        ds = spt.Dataset.from_arrays(xs, ys)
        alone = [run(ds, 1), run(ds, 2)]
        together = [None, None]

        def worker(i):
            together[i] = run(ds, i + 1)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(together, alone)


class TestOneHandle(unittest.TestCase):
    def test_hammer_and_close(self):
        # Two threads step one trainer as fast as they can; a third closes it.
        x, ys, model, trainer = make_run(7, total_steps=10 ** 9)
        steps = [0, 0]
        ended = [None, None]
        running = threading.Event()

        def hammer(i):
            try:
                while True:
                    trainer.step(x, ys)
                    steps[i] += 1
                    if steps[0] + steps[1] >= 20:
                        running.set()
            except BaseException as e:  # noqa: B902 - checked below
                ended[i] = e
                running.set()

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        self.assertTrue(running.wait(60))
        trainer.close()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive())
        for e in ended:
            self.assertIsInstance(e, spt.ClosedError)
            self.assertIn("Trainer is closed", str(e))
        self.assertGreaterEqual(sum(steps), 20)
        self.assertIsNone(trainer._ptr)
        with self.assertRaises(spt.ClosedError):
            trainer.step(x, ys)
        with self.assertRaises(spt.ClosedError):
            trainer.steps_done  # noqa: B018 - the property calls C
        # The model outlives its trainer and trains again.
        tr2 = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), total_steps=2)
        self.assertGreaterEqual(tr2.step(x, ys)[1], 0)

    def test_close_model_while_its_trainer_steps(self):
        # Closing the model under a running trainer: the model is marked
        # closed at once (its own calls raise), its C object lives until the
        # trainer is closed, and the trainer keeps training.
        x, ys, model, trainer = make_run(8, total_steps=10 ** 9)
        done, failures, running = [0], [], threading.Event()
        stop = threading.Event()

        def hammer():
            try:
                while not stop.is_set():
                    trainer.step(x, ys)
                    done[0] += 1
                    running.set()
            except BaseException as e:  # noqa: B902 - checked below
                failures.append(e)
                running.set()

        t = threading.Thread(target=hammer)
        t.start()
        self.assertTrue(running.wait(60))
        model.close()
        self.assertTrue(model.closed)
        with self.assertRaises(spt.ClosedError):
            model.forward(x)
        before = done[0]
        deadline = time.monotonic() + 60
        while done[0] < before + 3 and not failures and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        t.join(60)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(done[0], before + 3)  # trained on after the model's close()
        self.assertIsNotNone(model._ptr)
        trainer.close()
        self.assertIsNone(model._ptr)  # freed with its trainer, after it

    def test_calls_on_one_handle_do_not_overlap(self):
        # A user method's drop callback runs inside spt_trainer_step(); it
        # sleeps (releasing the GIL) and counts how many steps are inside C.
        inside, most = [0], [0]

        def drop(L):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            time.sleep(0.005)
            inside[0] -= 1

        method = spt.UserMethod("counting", drop=drop, grow="random")
        xs, ys = blobs(32, 8, 2, seed=1)
        x = spt.to_feature_major(xs)
        model = spt.Model.mlp([8, 16, 2], seed=1)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), method=method.config(sparsity=0.5, delta_t=1),
                         total_steps=1000)
        failures = []

        def worker():
            try:
                for _ in range(6):
                    tr.step(x, ys)
            except BaseException as e:  # noqa: B902 - checked below
                failures.append(e)

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertEqual(tr.steps_done, 18)
        self.assertEqual(most[0], 1)  # never two steps of one trainer at once

    def test_close_waits_for_the_running_call(self):
        entered, order = threading.Event(), []

        def drop(L):
            if not entered.is_set():
                entered.set()
                time.sleep(0.2)  # the step is inside C, the GIL released
                order.append("callback returned")

        method = spt.UserMethod("slow", drop=drop, grow="random")
        xs, ys = blobs(16, 4, 2, seed=2)
        x = spt.to_feature_major(xs)
        model = spt.Model.mlp([4, 8, 2], seed=2)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), method=method.config(sparsity=0.5, delta_t=1),
                         total_steps=10)
        result = []

        def stepper():
            while not entered.is_set():  # the first update step calls drop()
                result.append(tr.step(x, ys))

        t = threading.Thread(target=stepper)
        t.start()
        self.assertTrue(entered.wait(60))
        tr.close()  # waits for the step
        order.append("close returned")
        t.join(60)
        self.assertEqual(order, ["callback returned", "close returned"])
        self.assertGreaterEqual(len(result), 1)  # the step that ran drop() completed
        self.assertIsNone(tr._ptr)

    def test_close_from_inside_a_call(self):
        # A progress callback closes its own trainer: the epoch goes on (C is
        # still running it) and the trainer is freed when train_epoch returns.
        xs, ys = blobs(48, 4, 2, seed=3)
        ds = spt.Dataset.from_arrays(xs, ys)
        batcher = spt.Batcher(ds, 8, seed=3)
        model = spt.Model.mlp([4, 8, 2], seed=3)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), total_steps=100)
        seen = []

        def progress(p):
            seen.append(p.batch_index)
            tr.close()
            self.assertIsNotNone(tr._ptr)  # still in use by this call
            with self.assertRaises(spt.ClosedError):
                tr.steps_done  # noqa: B018 - a new call on a closed trainer

        loss, acc = tr.train_epoch(batcher, progress)
        self.assertEqual(seen, list(range(len(batcher))))
        self.assertTrue(tr.closed)
        self.assertIsNone(tr._ptr)
        with self.assertRaises(spt.ClosedError):
            tr.train_epoch(batcher)

    def test_collected_while_locked_elsewhere(self):
        # A trainer dropped while another thread holds its (model's) lock is
        # not freed by its finalizer, which never waits: it is queued and
        # freed by the next call that lets the lock go.
        model = spt.Model.mlp([4, 8, 2], seed=4)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), total_steps=10)
        held, release = threading.Event(), threading.Event()

        def holder():
            with model._use():
                held.set()
                release.wait(60)

        t = threading.Thread(target=holder)
        t.start()
        self.assertTrue(held.wait(60))
        self.assertEqual(model._pins, 1)
        del tr  # its finalizer cannot take the lock: queued
        self.assertEqual(len(model._group.pending), 1)
        self.assertEqual(model._pins, 1)
        release.set()
        t.join(60)
        self.assertEqual(model._group.pending, [])  # freed by the holder's exit
        self.assertEqual(model._pins, 0)
        spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), total_steps=10)  # C: the model has no trainer left

    def test_normalization_waits_for_reads(self):
        # set_normalization() changes the dataset: it waits for a batch being
        # built from it on another thread (an epoch, here), and a callback of
        # that epoch cannot change it (it would wait for itself).
        xs, ys = blobs(48, 4, 2, seed=6)
        ds = spt.Dataset.from_arrays(xs, ys)
        batcher = spt.Batcher(ds, 8, seed=6)
        model = spt.Model.mlp([4, 8, 2], seed=6)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), total_steps=100)
        entered, order, inner = threading.Event(), [], []

        def progress(p):
            if p.batch_index == 0:
                try:
                    ds.set_normalization([0.0] * 4, [2.0] * 4)
                except spt.StateError as e:
                    inner.append(e)
                self.assertEqual(len(ds), 48)  # reading is fine
                entered.set()
                time.sleep(0.2)
            return p.batch_index == 1

        t = threading.Thread(target=lambda: order.append(("epoch", tr.train_epoch(batcher, progress))))
        t.start()
        self.assertTrue(entered.wait(60))
        ds.set_normalization([0.0] * 4, [2.0] * 4)
        order.append(("normalized", None))
        t.join(60)
        self.assertEqual([o[0] for o in order], ["epoch", "normalized"])
        self.assertEqual(len(inner), 1)
        self.assertIn("being read", str(inner[0]))
        mean, std = ds.get_normalization()
        self.assertEqual([float(v) for v in std], [2.0] * 4)

    def test_pointer_needs_the_lock(self):
        m = spt.Model.mlp([3, 2])
        with self.assertRaises(spt.InternalError):
            m._p  # noqa: B018 - outside a locked call
        self.assertIsNotNone(m.ptr)  # the public handle is for the caller's own ctypes calls

    def test_wrappers_use_the_locked_pointer(self):
        # The binding's own C calls take a handle through ``_p``, which
        # checks the lock (every test of a wrapper then proves it locks);
        # the unchecked ``ptr`` is for users' own ctypes calls only.
        package = os.path.dirname(os.path.abspath(spt.__file__))
        handle_ptr = re.compile(r"\b(self|self\.net|model|trainer|batcher|dataset|optimizer|schedule|method|"
                                r"user_method|net|owner)\.ptr\b")
        found = []
        for name in sorted(os.listdir(package)):
            if name.endswith(".py") and name not in ("_buffers.py", "_handle.py"):  # Buf.ptr; the definition
                with open(os.path.join(package, name)) as f:
                    for i, line in enumerate(f, 1):
                        if handle_ptr.search(line):
                            found.append("%s:%d: %s" % (name, i, line.strip()))
        self.assertEqual(found, [])


if __name__ == "__main__":
    unittest.main()
