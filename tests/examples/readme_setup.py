"""The first command of README.md works both as root without sudo (a
container) and as a user with sudo: it is run, as written, in a sandbox
whose PATH holds only stand-ins (apt-get, cmake, nproc, id, and sudo in the
second case) that record their calls, from a directory whose
./build/examples/spt-train-mlp is a stand-in too. Every step must run, in
order, through sudo exactly when the user is not root."""
import os
import subprocess
import tempfile

from ex_util import check

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def first_command():
    with open(os.path.join(ROOT, "README.md")) as f:
        lines = f.read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("# 1."))
    cmd = next(l for l in lines[start + 1:] if l.strip() and not l.lstrip().startswith("#"))
    return cmd


def stub(path, name, body=""):
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"%s $*\" >> \"$SANDBOX_LOG\"\n%s" % (name, body))
    os.chmod(path, 0o755)


def run_as(uid, with_sudo):
    with tempfile.TemporaryDirectory(prefix="spt-readme-") as d:
        bindir = os.path.join(d, "bin")
        os.makedirs(os.path.join(d, "work", "build", "examples"))
        os.mkdir(bindir)
        log = os.path.join(d, "log")
        for name in ("apt-get", "cmake"):
            stub(os.path.join(bindir, name), name)
        stub(os.path.join(bindir, "nproc"), "nproc", "echo 2\n")
        stub(os.path.join(bindir, "id"), "id", "echo %d\n" % uid)
        if with_sudo:
            stub(os.path.join(bindir, "sudo"), "sudo", 'exec "$@"\n')
        stub(os.path.join(d, "work", "build", "examples", "spt-train-mlp"), "spt-train-mlp")
        p = subprocess.run(["/bin/bash", "-c", first_command()], cwd=os.path.join(d, "work"),
                           env={"PATH": bindir, "SANDBOX_LOG": log}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        calls = open(log).read().splitlines() if os.path.exists(log) else []
        return p.returncode, calls, p.stderr.decode()


cmd = first_command()
check("apt-get install" in cmd and "spt-train-mlp" in cmd, "README's first command: %r" % cmd)
rc, calls, err = run_as(0, False)
names = [c.split()[0] for c in calls if not c.startswith(("id", "nproc"))]
check(rc == 0 and names == ["apt-get", "apt-get", "cmake", "cmake", "spt-train-mlp"],
      "as root without sudo: exit %d, calls %r, stderr %r" % (rc, calls, err))
rc, calls, err = run_as(1000, True)
names = [c.split()[0] for c in calls if not c.startswith(("id", "nproc"))]
check(rc == 0 and names == ["sudo", "apt-get", "sudo", "apt-get", "cmake", "cmake", "spt-train-mlp"],
      "as a user with sudo: exit %d, calls %r, stderr %r" % (rc, calls, err))
print("ok")
