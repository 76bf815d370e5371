"""Build step of the Python package (the metadata is in pyproject.toml).

It records, in the installed package, where the C library is installed, so
that ``import sparsetrain`` finds it later without environment variables
(sparsetrain/_lib.py). The directory is, at installation time:

1. ``$SPT_LIBDIR``, if set (e.g. ``SPT_LIBDIR=/opt/spt/lib pip install ./python``);
2. else ``pkg-config --variable=libdir sparsetrain``, when pkg-config finds the
   library's sparsetrain.pc (its default search path covers /usr/local and
   /usr; PKG_CONFIG_PATH=PREFIX/lib/pkgconfig adds another prefix);
3. else nothing is recorded, and the library is looked for on the system's
   library path at import.
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


def installed_libdir():
    libdir = os.environ.get("SPT_LIBDIR")
    if libdir:
        return os.path.abspath(libdir)
    pkg_config = shutil.which("pkg-config")
    if pkg_config is None:
        return None
    try:
        out = subprocess.run([pkg_config, "--variable=libdir", "sparsetrain"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    return libdir if out.returncode == 0 and libdir else None


class BuildPy(build_py):
    """build_py, plus sparsetrain/_installed.py naming the library's directory."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "sparsetrain", "_installed.py")
        with open(target, "w") as f:
            f.write('"""Written by setup.py when the package was built: where libsparsetrain was installed '
                    '(None: not found then)."""\nLIBDIR = %r\n' % installed_libdir())


setup(cmdclass={"build_py": BuildPy})
