"""Running out of memory is a failure of the run (exit 1), not a bad flag
(exit 2): a dense 3072-20000-10 MLP (about 0.5 GB of weights and
gradients) fits this machine's memory, so the flags are accepted, but not
the 400 MB of address space the test allows the process (RLIMIT_AS): the
model cannot be built, and the message says so. Skipped under
AddressSanitizer, whose shadow memory needs far more address space."""
import os
import resource
import subprocess
import sys

from ex_util import SKIP, check, programs, tempdir, write_tiny_cifar

mlp, _ = programs()
with open(mlp, "rb") as f:
    if b"__asan_init" in f.read():
        print("SKIP: AddressSanitizer build")
        sys.exit(SKIP)

# A build with oneDNN (SPT_WITH_DNNL) maps about 40 MB more of library code;
# OpenBLAS's first 128 MB buffer must still fit (when its malloc fails it
# retries for ever: at 300 MB the small model hung there).
LIMIT = 400 << 20


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=32, n_test=16)
    common = [mlp, "--data", data, "--limit", "32", "--test-limit", "16", "--batch", "16", "--epochs", "1",
              "--method", "dense", "--threads", "1"]
    p = subprocess.run(common + ["--widths", "8"], preexec_fn=limited, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    check(p.returncode == 0, "a small model under the limit: exit %d %r" % (p.returncode, p.stderr[-300:]))
    p = subprocess.run(common + ["--widths", "20000"], preexec_fn=limited, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    err = p.stderr.decode("utf-8", "replace")
    # Weights are born without storage: a dense model's memory is asked for
    # when the method sets it up.
    check(p.returncode == 1 and "out of memory" in err and
          ("cannot build the model" in err or "cannot set up the method" in err),
          "out of memory building the model: exit %d, stderr %r" % (p.returncode, err))
print("ok")
