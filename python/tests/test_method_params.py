"""Method and parameter metadata read from the library (METHODS, PARAMS,
DISTRIBUTIONS, DROP_SCHEDULES, method_params) agree with what MethodConfig
accepts and reads back."""
import struct
import unittest

import sparsetrain as spt
from sparsetrain import errors
from sparsetrain import method as M


def _next(x, up):
    """The double next to finite x (math.nextafter needs Python 3.9)."""
    if x == 0:
        return 5e-324 if up else -5e-324
    i = struct.unpack("<q", struct.pack("<d", x))[0]
    i += 1 if (x > 0) == up else -1
    return struct.unpack("<d", struct.pack("<q", i))[0]


class TestTables(unittest.TestCase):
    def test_methods(self):
        self.assertEqual(M.METHODS, ("dense", "static", "set", "snfs", "rigl", "gmp", "lottery", "snip", "grasp",
                                     "synflow"))
        self.assertIs(spt.METHODS, M.METHODS)
        for i, name in enumerate(M.METHODS):
            self.assertEqual(spt.method_id(name), i)
            self.assertEqual(spt.method_name(i), name)
            self.assertTrue(spt.method_summary(name))
        # SPT_METHOD_USER follows the built-ins; it is made from criteria (user_method).
        self.assertEqual(spt.method_name(len(M.METHODS)), "user")
        self.assertIsNone(spt.method_summary(len(M.METHODS) + 1))

    def test_params_keep_their_numbers(self):
        # The keywords and SPT_MP_* numbers of earlier releases.
        self.assertEqual(M.PARAMS, {
            "sparsity": 0, "distribution": 1, "dense_first": 2, "dense_last": 3, "delta_t": 4, "alpha": 5,
            "t_end": 6, "t_end_fraction": 7, "drop_schedule": 8, "snfs_momentum": 9, "prune_start": 10,
            "prune_end": 11, "prune_freq": 12, "initial_sparsity": 13, "global_pruning": 14, "lottery_rounds": 15,
            "lottery_rate": 16, "rewind_step": 17, "score_batches": 18, "synflow_iters": 19, "seed": 20,
            "sparse_init": 21, "epsilon": 22, "grow_sample": 23, "structure": 24, "structure_n": 25,
            "structure_m": 26, "ablation": 27})

    def test_choices(self):
        self.assertEqual(M.DISTRIBUTIONS, {"uniform": 0, "erdos_renyi": 1, "er": 1, "erk": 2})
        self.assertEqual(M.DROP_SCHEDULES, {"cosine": 0, "linear": 1, "constant": 2})
        for name, value in M.DISTRIBUTIONS.items():
            with spt.MethodConfig("rigl", distribution=name.upper()) as c:
                self.assertEqual(c.get("distribution"), value)
        for name, value in M.DROP_SCHEDULES.items():
            with spt.MethodConfig("set", drop_schedule=name) as c:
                self.assertEqual(c.get("drop_schedule"), value)
        with self.assertRaises(errors.InvalidError):
            spt.MethodConfig("rigl", distribution="gaussian")


class TestMethodParams(unittest.TestCase):
    def test_every_method(self):
        all_keys = set()
        for name in M.METHODS:
            params = spt.method_params(name)
            self.assertEqual(params, spt.method_params(M.METHODS.index(name)))
            all_keys.update(p.key for p in params.values())
            with spt.MethodConfig(name) as c:
                for kw, p in params.items():
                    self.assertIsInstance(p, spt.ParamInfo)
                    self.assertEqual(kw, p.name)
                    self.assertEqual(M.PARAMS[kw], p.key)
                    self.assertIn(p.type, M.PARAM_TYPES)
                    self.assertTrue(p.doc)
                    got = c.get(kw)
                    if p.type == "choice":
                        self.assertEqual(p.choices[int(got)], p.default)
                    else:
                        self.assertEqual(got, p.default, "%s %s" % (name, kw))
        self.assertEqual(spt.method_params("dense"), {})
        self.assertEqual(all_keys, set(M.PARAMS.values()))

    def test_known_entries(self):
        rigl = spt.method_params("rigl")
        self.assertIn("delta_t", rigl)
        self.assertNotIn("prune_freq", rigl)
        self.assertEqual(rigl["delta_t"].type, "integer")
        self.assertEqual(rigl["delta_t"].default, 100)
        self.assertEqual(rigl["sparsity"].type, "real")
        self.assertEqual((rigl["sparsity"].lo, rigl["sparsity"].hi), (0.0, 1.0))
        self.assertEqual((rigl["sparsity"].lo_open, rigl["sparsity"].hi_open), (False, True))
        self.assertEqual(rigl["distribution"].choices, ("uniform", "er", "erk"))
        self.assertEqual(rigl["distribution"].default, "erk")
        self.assertEqual(rigl["drop_schedule"].default, "cosine")
        self.assertIs(spt.method_params("snip")["global_pruning"].default, True)
        self.assertIs(spt.method_params("gmp")["global_pruning"].default, False)
        self.assertIn("snfs_momentum", spt.method_params("snfs"))
        with self.assertRaises(errors.InvalidError):
            spt.method_params("foo")
        with self.assertRaises(errors.InvalidError):
            spt.method_params(len(M.METHODS) + 1)  # past SPT_METHOD_USER, the last

    def test_bounds_agree_with_set(self):
        for name in M.METHODS:
            for kw, p in spt.method_params(name).items():
                with spt.MethodConfig(name) as c:
                    probes = [p.lo, p.hi, _next(p.lo, False), _next(p.hi, True), _next(p.lo, True),
                              _next(p.hi, False), (p.lo + p.hi) / 2, p.lo + 0.5, float("nan")]
                    for v in probes:
                        try:
                            c.set(kw, v)
                            ok = True
                        except errors.InvalidError:
                            ok = False
                        self.assertEqual(ok, p.accepts(v), "%s %s = %r" % (name, kw, v))
                    if not p.lo_open:
                        self.assertTrue(p.accepts(p.lo))
                    if p.type != "real":
                        self.assertFalse(p.accepts(p.lo + 0.5))


if __name__ == "__main__":
    unittest.main()
