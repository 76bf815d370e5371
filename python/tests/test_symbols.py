"""Every function the shared library exports is declared in the binding
(argtypes and restype), so none is called with ctypes' default conversions."""
import os
import shutil
import subprocess
import unittest

from sparsetrain import _lib


def exported_functions(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("T", "W", "i") and parts[2].startswith("spt_"):
            names.add(parts[2].split("@")[0])
    return names


@unittest.skipUnless(shutil.which("nm"), "nm is not installed")
class TestSymbols(unittest.TestCase):
    def setUp(self):
        if not os.path.isfile(_lib.path):
            self.skipTest("library loaded by name (%s), not from a file" % _lib.path)
        self.exported = exported_functions(os.path.realpath(_lib.path))

    def test_every_export_is_declared(self):
        self.assertGreater(len(self.exported), 100)
        missing = sorted(self.exported - set(_lib.DECLARATIONS))
        self.assertEqual(missing, [], "exported but not declared in python/sparsetrain/_lib.py")
        for name in self.exported:
            fn = getattr(_lib.lib, name)
            self.assertIsNotNone(fn.argtypes, name)
            self.assertIn(name, _lib.declared)

    def test_every_declaration_is_exported(self):
        stale = sorted(set(_lib.DECLARATIONS) - self.exported)
        self.assertEqual(stale, [], "declared but not exported by %s" % _lib.path)


if __name__ == "__main__":
    unittest.main()
