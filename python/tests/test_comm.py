"""Data-parallel training from Python (sparsetrain.comm): two ranks under
mpirun train a small sparse MLP with RigL and end with the same weights;
skipped when mpirun or libsparsetrain_mpi is missing."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import sparsetrain as spt

SCRIPT = r'''
import array, hashlib, os, sys, tempfile
import sparsetrain as spt
comm = spt.Comm.mpi_world()
n, f, k = 256, 16, 4
xs = array.array("f", [((i * 7 + j * 13) % 11) / 11.0 + (i % k) * 0.3 for i in range(n) for j in range(f)])
ds = spt.Dataset.from_arrays(xs, array.array("i", [i % k for i in range(n)]), classes=k, shape=(n, f))
model = spt.Model.mlp([f, 32, k], seed=1)
cfg = spt.MethodConfig("rigl", sparsity=0.7, delta_t=5, seed=1)
opt = spt.Optimizer("sgd", lr=0.05, momentum=0.9)
trainer = spt.Trainer(model, opt, method=cfg, total_steps=2 * (n // 32), seed=1)
trainer.set_comm(comm)
batcher = spt.Batcher(ds, 32, seed=1)
batcher.set_shard(comm.rank, comm.size)
for e in range(2):
    loss, acc = trainer.train_epoch(batcher)
path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
model.export(path)
h = hashlib.sha256(open(path, "rb").read()).hexdigest()
print("RANK %d OF %d %s %.4f %d" % (comm.rank, comm.size, h, loss, comm.stats()["f32_bytes"]), flush=True)
trainer.close(); comm.close()
'''



@unittest.skipUnless(shutil.which("mpirun"), "mpirun is not installed")
class TestComm(unittest.TestCase):
    def test_two_ranks_agree(self):
        try:
            spt.mpi_launched()
        except ImportError as e:
            self.skipTest(str(e))
        # A session directory of its own: the two Python suites may run mpirun at once.
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_btl_vader_single_copy_mechanism="none", OMP_NUM_THREADS="1", TMPDIR=tmp.name)
        out = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", sys.executable, "-c", SCRIPT],
                             capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        # (mpirun forwards the ranks' output as it comes: lines may run together)
        ranks = sorted(re.findall(r"RANK (\d+) OF 2 ([0-9a-f]{64}) ([0-9.]+) (\d+)", out.stdout))
        self.assertEqual([r[0] for r in ranks], ["0", "1"], out.stdout + out.stderr)
        self.assertEqual(ranks[0][1], ranks[1][1])  # the same weights on both ranks
        self.assertGreater(int(ranks[0][3]), 0)


if __name__ == "__main__":
    unittest.main()
