"""Version, status strings, threads, the library's location."""
import os
import re
import unittest

import sparsetrain as spt
from sparsetrain import errors


class TestCore(unittest.TestCase):
    def test_version(self):
        v = spt.version()
        self.assertRegex(v, r"^\d+\.\d+\.\d+$")
        major, minor, patch = (int(p) for p in v.split("."))
        self.assertEqual(spt.version_number(), major * 10000 + minor * 100 + patch)
        self.assertEqual(spt.__version__, v)

    def test_version_matches_header(self):
        header = os.path.join(os.path.dirname(__file__), "..", "..", "include", "sparsetrain", "core.h")
        if not os.path.exists(header):
            self.skipTest("core.h not found next to the binding")
        with open(header) as f:
            text = f.read()
        parts = [re.search(r"#define SPT_VERSION_%s (\d+)" % p, text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
        self.assertEqual(spt.version(), ".".join(parts))

    def test_package_version_and_soname_match_header(self):
        # pyproject.toml's version and the SONAME _lib.py loads by name are
        # copies of core.h's version: they must follow it.
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        header, pyproject = (os.path.join(root, *p) for p in (("include", "sparsetrain", "core.h"),
                                                               ("python", "pyproject.toml")))
        if not (os.path.exists(header) and os.path.exists(pyproject)):
            self.skipTest("not a source tree")
        with open(header) as f:
            text = f.read()
        major = re.search(r"#define SPT_VERSION_MAJOR (\d+)", text).group(1)
        with open(pyproject) as f:
            version = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
        self.assertEqual(version, spt.version())
        from sparsetrain import _lib
        self.assertEqual(_lib.SONAME, "libsparsetrain.so." + major)

    def test_status_strings(self):
        self.assertEqual(spt.status_string(0), spt.status_string(errors.OK))
        texts = {spt.status_string(s) for s in range(0, 13)}
        self.assertEqual(len(texts), 13)  # each code has its own text
        self.assertEqual(spt.status_string(9999), "unknown status code")
        self.assertEqual(spt.status_string(-1), "unknown status code")

    def test_error_classes(self):
        for status, cls in [(1, spt.NullError), (2, spt.InvalidError), (3, spt.SizeError), (4, spt.NoMemoryError),
                            (5, spt.FileIOError), (6, spt.FormatError), (7, spt.VersionError),
                            (8, spt.ChecksumError), (9, spt.NonFiniteError), (10, spt.StateError),
                            (11, spt.UnsupportedError), (12, spt.InternalError)]:
            e = errors.error_for(status, "msg")
            self.assertIs(type(e), cls)
            self.assertIsInstance(e, spt.Error)
            self.assertEqual(e.status, status)
            self.assertEqual(str(e), "msg")
        self.assertIsInstance(errors.error_for(5, "x"), OSError)
        self.assertIsInstance(errors.error_for(4, "x"), MemoryError)
        self.assertIsInstance(errors.error_for(2, "x"), ValueError)
        self.assertIsNone(errors.check(0))

    def test_dispatch(self):
        self.assertEqual(spt.get_dispatch(), ("threshold", 0.4))
        spt.set_dispatch("sparse")
        self.assertEqual(spt.get_dispatch()[0], "sparse")
        with self.assertRaises(spt.InvalidError):
            spt.set_dispatch("threshold", threshold=1.5)
        with self.assertRaises(ValueError):
            spt.set_dispatch("fastest")
        spt.set_dispatch("threshold", threshold=0.4)
        self.assertEqual(spt.get_dispatch(), ("threshold", 0.4))

    def test_threads(self):
        n = spt.get_num_threads()
        self.assertGreaterEqual(n, 1)
        spt.set_num_threads(1)
        self.assertEqual(spt.get_num_threads(), 1)
        spt.set_num_threads(n)
        with self.assertRaises(spt.InvalidError) as cm:
            spt.set_num_threads(-1)
        self.assertEqual(cm.exception.status, errors.ERR_INVALID)
        self.assertIn("spt_set_num_threads", str(cm.exception))

    def test_simd_name(self):
        self.assertIn(spt.simd_name(), ("avx512", "avx2", "generic"))

    def test_library_path(self):
        env = os.environ.get("SPT_LIBRARY")
        if env:
            self.assertEqual(spt.library_path, env)


if __name__ == "__main__":
    unittest.main()
