"""Training a tiny MLP on synthetic arrays: loss, RigL, callbacks, evaluation."""
import unittest

import sparsetrain as spt

from _util import blobs

np = None
if spt.HAVE_NUMPY:  # the binding uses NumPy: the tests may too
    import numpy as np


def make_run(method=None, epochs=4, batch=16, n=96, seed=1):
    xs, ys = blobs(n, 6, 3, seed=seed)
    ds = spt.Dataset.from_arrays(xs, ys)
    batcher = spt.Batcher(ds, batch, seed=seed)
    model = spt.Model.mlp([6, 16, 3], seed=seed)
    trainer = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05, momentum=0.9), spt.LRSchedule("constant", base=0.05),
                          method, total_steps=epochs * len(batcher), seed=seed)
    return ds, batcher, model, trainer


class TestTrain(unittest.TestCase):
    def test_loss_falls_with_steps(self):
        xs, ys = blobs(64, 5, 4, seed=3)
        x = spt.to_feature_major(xs)  # 5 x 64
        model = spt.Model.mlp([5, 16, 4], seed=3)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.1, momentum=0.9), total_steps=60)
        first, _ = tr.step(x, ys)
        for _ in range(59):
            last, correct = tr.step(x, ys)
        self.assertLess(last, 0.5 * first)
        self.assertGreater(correct, 48)
        self.assertEqual(tr.steps_done, 60)
        loss, correct = model.evaluate(x, ys)
        self.assertGreater(correct, 48)
        self.assertEqual(len(model.predict(x)), 64)
        logits = model.forward(x)
        self.assertEqual(len(logits), 4)  # K x N
        self.assertEqual(len(spt.to_example_major(logits)), 64)

    def test_epochs_and_evaluate(self):
        ds, batcher, model, tr = make_run(spt.MethodConfig("rigl", sparsity=0.5, delta_t=2, distribution="uniform"))
        losses = [tr.train_epoch(batcher)[0] for _ in range(4)]
        self.assertLess(losses[-1], losses[0])
        loss, acc = tr.evaluate(ds, batch=32)
        self.assertGreater(acc, 0.8)
        self.assertGreater(tr.lr, 0)
        f = tr.flops()
        self.assertLess(f.forward_sparse, f.forward_dense)
        step_s, method_s = tr.times()
        self.assertGreaterEqual(step_s, method_s)
        init_s, s_step, hook_s, round_s = tr.session_times()
        self.assertGreater(init_s, 0)
        self.assertTrue(0 <= hook_s <= s_step and round_s == 0)

    def test_rigl_keeps_layer_nnz(self):
        _, batcher, model, tr = make_run(spt.MethodConfig("rigl", sparsity=0.6, delta_t=2, alpha=0.5,
                                                          t_end_fraction=1.0))
        before = [(L.name, L.nnz, L.size) for L in tr.layer_densities()]
        self.assertTrue(all(nnz < size for _, nnz, size in before))
        sparsity, nnz, dense = tr.sparsity()
        self.assertAlmostEqual(sparsity, 0.6, delta=0.05)
        masks = [tuple(model.weight_csr(L.index)[1]) for L in model.weight_layers()]
        for _ in range(3):
            tr.train_epoch(batcher)
        updated, count = tr.last_update()
        self.assertGreater(count, 0)  # the topology did change ...
        after = [(L.name, L.nnz, L.size) for L in tr.layer_densities()]
        self.assertEqual(before, after)  # ... and every layer kept its nnz
        self.assertEqual([L.nnz for L in model.weight_layers()], [b[1] for b in before])
        self.assertNotEqual(masks, [tuple(model.weight_csr(L.index)[1]) for L in model.weight_layers()])

    def test_progress_callback(self):
        _, batcher, model, tr = make_run()
        seen = []
        loss, acc = tr.train_epoch(batcher, lambda p: seen.append(p))
        self.assertEqual([p.batch_index for p in seen], list(range(len(batcher))))
        self.assertTrue(all(p.batches == len(batcher) for p in seen))
        self.assertEqual(seen[-1].step, len(batcher))
        # Returning True stops the epoch after that batch.
        stopped = []
        tr.train_epoch(batcher, lambda p: stopped.append(p) or p.batch_index == 1)
        self.assertEqual(len(stopped), 2)
        self.assertEqual(tr.steps_done, len(batcher) + 2)

    def test_callback_exception_is_reraised(self):
        _, batcher, model, tr = make_run()

        class Boom(Exception):
            pass

        def progress(p):
            if p.batch_index == 2:
                raise Boom("stop at %d" % p.batch_index)

        with self.assertRaises(Boom) as cm:
            tr.train_epoch(batcher, progress)
        self.assertEqual(str(cm.exception), "stop at 2")
        self.assertEqual(tr.steps_done, 3)  # the epoch was cancelled after batch 2
        # The trainer is still usable: the rest of the epoch trains.
        tr.train_epoch(batcher)
        self.assertEqual(tr.steps_done, len(batcher))

    def test_keyboard_interrupt_in_callback(self):
        _, batcher, model, tr = make_run()

        def progress(p):
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            tr.train_epoch(batcher, progress)
        self.assertEqual(tr.steps_done, 1)

    def test_trainer_keeps_model_alive(self):
        _, batcher, model, tr = make_run()
        model.close()  # deferred: the trainer still uses it
        self.assertIsNotNone(model._ptr)
        tr.train_epoch(batcher)
        tr.close()
        self.assertIsNone(model._ptr)

    def test_trainer_copies_its_settings(self):
        # C copies the optimizer, schedule and method configuration into the
        # trainer: closing (or changing) them afterwards does not affect it.
        xs, ys = blobs(16, 4, 2, seed=2)
        x = spt.to_feature_major(xs)
        opt, sched = spt.Optimizer("sgd", lr=0.05), spt.LRSchedule("constant", base=0.05)
        cfg = spt.MethodConfig("set", sparsity=0.5, delta_t=2)
        tr = spt.Trainer(spt.Model.mlp([4, 8, 2], seed=2), opt, sched, cfg, total_steps=6)
        sched.set("base", 1.0)
        for h in (opt, sched, cfg):
            h.close()
            self.assertIsNone(h._ptr)  # nothing pins them: freed at once
        for _ in range(6):
            tr.step(x, ys)
        self.assertAlmostEqual(tr.lr, 0.05)
        self.assertAlmostEqual(tr.sparsity()[0], 0.5, delta=0.1)

    def test_dataset_and_batcher(self):
        xs, ys = blobs(10, 4, 2)
        ds = spt.Dataset.from_arrays(xs, ys)
        self.assertEqual((len(ds), ds.shape, ds.classes), (10, (4, 1, 1), 2))
        self.assertEqual(list(ds.labels()), ys)
        x, y = ds.gather([3, 0])
        self.assertEqual(list(y), [ys[3], ys[0]])
        self.assertAlmostEqual(float(x[1][0][0][0]), xs[3][1], places=5)  # C x H x W x B
        b = spt.Batcher(ds, 4, shuffle=True, seed=7)
        self.assertEqual(len(b), 3)
        sizes = [len(y) for _, y in b]
        self.assertEqual(sizes, [4, 4, 2])
        self.assertEqual(b.state[0], 1)  # one epoch done
        b.state = (0, 0, 7)
        first = [list(y) for _, y in b]
        b.state = (0, 0, 7)
        self.assertEqual(first, [list(y) for _, y in b])
        mean, std = ds.normalize()
        self.assertEqual(len(mean), 4)
        rest, hold = ds.split_random(3, seed=1)
        self.assertEqual((len(rest), len(hold)), (7, 3))
        self.assertEqual(len(ds.subset(2, 5)), 5)

    @unittest.skipUnless(np is not None, "numpy is not installed (or SPT_PYTHON_NO_NUMPY is set)")
    def test_numpy_images(self):
        rng = np.random.default_rng(0)
        imgs = rng.integers(0, 256, size=(20, 1, 4, 4), dtype=np.uint8)
        labels = np.arange(20, dtype=np.int32) % 3
        ds = spt.Dataset.from_arrays(imgs, labels)
        self.assertEqual((len(ds), ds.shape, ds.classes), (20, (1, 4, 4), 3))
        x, y = ds.gather(np.arange(20))
        self.assertEqual(x.shape, (1, 4, 4, 20))
        np.testing.assert_allclose(x, np.moveaxis(imgs, 0, -1) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(spt.to_feature_major(imgs.astype(np.float32)), np.moveaxis(imgs, 0, -1))
        model = spt.Model.resnet((1, 4, 4), blocks_per_stage=1, classes=3, seed=0)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), method=spt.MethodConfig("set", sparsity=0.5),
                         total_steps=4)
        loss, correct = tr.step(x, y)
        self.assertTrue(np.isfinite(loss))
        self.assertEqual(model.forward(x).shape, (3, 20))
        convs = [L for L in model.weight_layers() if L.kind == "conv2d"]
        rp, ci, va = model.weight_csr(convs[1].index)
        self.assertEqual(len(rp), convs[1].rows + 1)


class TestSchedules(unittest.TestCase):
    def test_lr_schedule(self):
        s = spt.LRSchedule("step", base=0.1, gamma=0.5, milestones=[10, 20])
        self.assertEqual(s.milestones, [10, 20])
        self.assertAlmostEqual(s.at(0), 0.1)
        self.assertAlmostEqual(s.at(15), 0.05)
        self.assertAlmostEqual(s.at(25), 0.025)
        c = spt.LRSchedule("cosine", base=1.0)
        with self.assertRaises(spt.StateError):
            c.at(0)  # total_steps unset
        c.set("total_steps", 10)
        self.assertAlmostEqual(c.at(10), 0.0)

    def test_optimizer_state(self):
        o = spt.Optimizer("adam", lr=0.01, beta1=0.8)
        st = o.save_state()
        o2 = spt.Optimizer("sgd")
        o2.load_state(st)
        self.assertEqual((o2.kind, o2.get("beta1")), ("adam", 0.8))
        with self.assertRaises(spt.FormatError):
            o2.load_state(b"xx")

    def test_method_config(self):
        cfg = spt.MethodConfig("rigl", sparsity=0.8, dense_first=True, drop_schedule="linear")
        self.assertEqual(cfg.method, "rigl")
        self.assertEqual((cfg["sparsity"], cfg["dense_first"], cfg["drop_schedule"]), (0.8, 1.0, 1.0))
        self.assertEqual(cfg.rounds(), 1)
        self.assertEqual(spt.MethodConfig("lottery", sparsity=0.9, lottery_rate=0.5).rounds(), 5)
        self.assertEqual(spt.method_name(spt.method_id("snip")), "snip")

    def test_sparsity_functions(self):
        dens, nnz, achieved = spt.sparsity.allocate([(100, 50), (10, 100)], 0.9, "uniform")
        self.assertAlmostEqual(achieved, 0.9, places=3)
        self.assertEqual(sum(nnz), 600)
        # The SET paper's epsilon: 20 * (784 + 1000) of 784,000; the 10-way layer saturates.
        dens, nnz, _ = spt.sparsity.allocate_epsilon([(1000, 784), (10, 1000)], 20)
        self.assertEqual(list(nnz), [35680, 10000])
        self.assertEqual(float(dens[1]), 1.0)
        f = spt.sparsity.flops_forward([(100, 50)])
        self.assertEqual(f, 2 * 100 * 50)
        self.assertAlmostEqual(spt.sparsity.drop_fraction(0, 0.3, 100), 0.3)
        self.assertEqual(spt.sparsity.flops_train("dense", 10.0, 10.0), 30.0)


if __name__ == "__main__":
    unittest.main()
