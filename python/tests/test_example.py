"""The example script runs end to end on a slice of Fashion-MNIST."""
import os
import subprocess
import sys
import unittest

import sparsetrain as spt

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
EXAMPLE = os.path.join(EXAMPLES, "train_mlp.py")


def run(args, timeout, example=EXAMPLE):
    # The child imports the same package as this test, whatever the cwd.
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(spt.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, example] + args, capture_output=True, text=True, timeout=timeout,
                          env=env)


@unittest.skipUnless(os.path.exists(os.path.join(spt.FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")),
                     "Fashion-MNIST is not installed (Debian: dataset-fashion-mnist)")
class TestExample(unittest.TestCase):
    def test_train_mlp(self):
        out = run(["--epochs", "2", "--limit", "2000", "--batch", "64"], 300)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = [l for l in out.stdout.splitlines() if l.startswith("epoch")]
        self.assertEqual(len(lines), 2)
        acc = float(lines[-1].split("test acc")[1].split()[0])
        self.assertGreater(acc, 0.5)  # 10 classes: chance is 0.1
        self.assertIn("sparsity 0.900", lines[-1])

    def test_train_cnn(self):
        out = run(["--epochs", "1", "--limit", "1500", "--batch", "50", "--width", "8", "--summary"], 300,
                  os.path.join(EXAMPLES, "train_cnn.py"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("block.add", out.stdout)  # the summary of the description
        lines = [l for l in out.stdout.splitlines() if l.startswith("epoch")]
        self.assertEqual(len(lines), 1)
        acc = float(lines[-1].split("test acc")[1].split()[0])
        self.assertGreater(acc, 0.25)  # 10 classes: chance is 0.1
        self.assertIn("sparsity 0.800", lines[-1])
        self.assertRegex(out.stdout, r"conv1.weight +72 / +72 +density 1.000")  # density=1 kept it dense


class TestExampleErrors(unittest.TestCase):
    def test_missing_data(self):
        out = run(["--data", "/nonexistent-spt-dir", "--epochs", "1"], 60)
        self.assertEqual(out.returncode, 2)
        self.assertIn("/nonexistent-spt-dir", out.stderr)
        out = run(["--data", "/nonexistent-spt-dir"], 60, os.path.join(EXAMPLES, "train_cnn.py"))
        self.assertEqual(out.returncode, 2)
        self.assertIn("/nonexistent-spt-dir", out.stderr)


if __name__ == "__main__":
    unittest.main()
