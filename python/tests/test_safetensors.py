"""safetensors export and import (sparsetrain/safetensors.h): an exported
model read back with NumPy alone (no code of the library), every sparse
layer rebuilt from its CSR triple and a forward pass of the exported MLP
in NumPy against the library's logits; load_weights and from_safetensors;
a state_dict written by hand (as PyTorch's safetensors would) coming in."""
import json
import os
import struct
import tempfile
import unittest

import sparsetrain as spt

from _util import blobs

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

try:
    import torch
except ImportError:  # torch is optional: the NumPy reader is the test
    torch = None

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "F16": "<f2"}


def read_safetensors(path):
    """The file's tensors and metadata, with the standard library and NumPy:
    what a user without this library does."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return tensors, meta


def write_safetensors(path, tensors, meta=None):
    """A safetensors file from NumPy arrays, as safetensors.numpy.save_file
    writes it."""
    header, chunks, at = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    names = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64",
             np.dtype("<i4"): "I32"}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        chunks.append(a.tobytes())
        at += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-(len(text) + 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def dense_of(tensors, meta, name):
    """A weight as a dense array: its own tensor, or its CSR triple
    (scipy.sparse.csr_matrix((values, col, crow)) written out in NumPy)."""
    if name in tensors:
        return tensors[name]
    assert meta[name + ".format"] == "csr"
    shape = json.loads(meta[name + ".shape"])
    crow, col, val = (tensors[name + s] for s in (".crow_indices", ".col_indices", ".values"))
    rows, cols = shape[0], int(np.prod(shape[1:]))
    out = np.zeros((rows, cols), dtype=np.float32)
    row_of = np.repeat(np.arange(rows), np.diff(crow))
    out[row_of, col] = val
    return out.reshape(shape)


@unittest.skipUnless(np is not None, "NumPy is not installed")
class TestSafetensors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "model.safetensors")
        xs, ys = blobs(96, 12, 3, seed=5)
        self.ds = spt.Dataset.from_arrays(xs, ys)
        self.x = np.asarray(xs, dtype=np.float32)

    def tearDown(self):
        self.dir.cleanup()

    def trained(self, method="rigl", sparsity=0.8, widths=(12, 40, 20, 3)):
        model = spt.Model.mlp(list(widths), seed=3)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05, momentum=0.9), None,
                         spt.MethodConfig(method, sparsity=sparsity), total_steps=24, seed=3)
        b = spt.Batcher(self.ds, 16, seed=1)
        tr.train_epoch(b)
        tr.train_epoch(b)
        return model, tr

    def test_numpy_reads_the_export(self):
        model, tr = self.trained()
        model.export(self.path)
        tensors, meta = read_safetensors(self.path)
        self.assertEqual(meta["spt.format"], "libsparsetrain-1")
        layers = model.weight_layers()
        self.assertEqual(len(layers), 3)
        for L in layers:
            name = L.name + ".weight"
            self.assertEqual(meta[name + ".format"], "csr")  # every layer is sparse at 80%
            self.assertEqual(len(tensors[name + ".values"]), L.nnz)
            self.assertEqual(tensors[name + ".col_indices"].dtype, np.int32)
            self.assertEqual(tensors[name + ".crow_indices"].dtype, np.int64)
            np.testing.assert_array_equal(dense_of(tensors, meta, name), model.weight_dense(L.index))
        # The forward pass of the MLP in NumPy (fc, relu, fc, relu, fc; dropout is off in
        # evaluation): float32 sums in another order than the library's kernels, so
        # the logits agree to rounding: |difference| <= 1e-5 (1 + |logit|).
        h = self.x
        for i, L in enumerate(layers):
            w = dense_of(tensors, meta, L.name + ".weight")
            h = h @ w.T + tensors[L.name + ".bias"]
            if i + 1 < len(layers):
                h = np.maximum(h, 0)
        logits = np.asarray(model.forward(np.ascontiguousarray(self.x.T))).reshape(3, -1).T
        np.testing.assert_allclose(h, logits, rtol=1e-5, atol=1e-5)

    @unittest.skipUnless(torch is not None, "PyTorch is not installed")
    def test_torch_reads_the_csr(self):
        model, tr = self.trained()
        model.export(self.path)
        tensors, meta = read_safetensors(self.path)
        for L in model.weight_layers():
            name = L.name + ".weight"
            crow, col, val = (torch.from_numpy(tensors[name + s].copy())
                              for s in (".crow_indices", ".col_indices", ".values"))
            w = torch.sparse_csr_tensor(crow, col.long(), val, (L.rows, L.cols)).to_dense()
            np.testing.assert_array_equal(w.numpy(), model.weight_dense(L.index))

    def test_load_weights_and_from_safetensors(self):
        model, tr = self.trained(method="set", sparsity=0.6)
        model.export(self.path)
        with self.assertRaises(spt.StateError):
            model.load_weights(self.path)  # a trainer is attached
        back = spt.Model.from_safetensors(self.path)
        other = spt.Model.mlp([12, 40, 20, 3], seed=77)
        other.load_weights(self.path)
        for L in model.weight_layers():
            self.assertEqual(back.layer(L.index).nnz, L.nnz)
            np.testing.assert_array_equal(back.weight_dense(L.index), model.weight_dense(L.index))
            np.testing.assert_array_equal(other.weight_dense(L.index), model.weight_dense(L.index))
        xb = np.ascontiguousarray(self.x.T)
        np.testing.assert_array_equal(np.asarray(back.forward(xb)), np.asarray(model.forward(xb)))
        with self.assertRaises(spt.FormatError) as cm:
            spt.Model.mlp([12, 41, 20, 3]).load_weights(self.path)
        self.assertIn("fc1.weight", str(cm.exception))
        with self.assertRaises(spt.FileIOError):
            other.load_weights(os.path.join(self.dir.name, "missing.safetensors"))

    def test_dense_state_dict_in_pruned_and_out(self):
        """Bring a dense model (a state_dict as PyTorch's safetensors writes
        it, F64 here), prune it here with GMP, export it back sparse."""
        rng = np.random.default_rng(0)
        sd = {"fc1.weight": rng.normal(0, 0.3, (40, 12)), "fc1.bias": np.zeros(40),
              "fc2.weight": rng.normal(0, 0.3, (3, 40)), "fc2.bias": np.zeros(3),
              "fc1.num_batches_tracked": np.zeros((), dtype=np.int64)}
        write_safetensors(self.path, sd, {"format": "pt"})
        model = spt.Model.mlp([12, 40, 3])
        model.load_weights(self.path)
        np.testing.assert_array_equal(model.weight_dense(0), sd["fc1.weight"].astype(np.float32))
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.01), None,
                         spt.MethodConfig("gmp", sparsity=0.75, prune_start=0, prune_end=8, prune_freq=2),
                         total_steps=12)
        tr.train_epoch(spt.Batcher(self.ds, 16, seed=1))
        tr.train_epoch(spt.Batcher(self.ds, 16, seed=2))
        out = os.path.join(self.dir.name, "pruned.safetensors")
        model.export(out)
        tensors, meta = read_safetensors(out)
        zeros = sum(int(np.sum(dense_of(tensors, meta, n) == 0)) for n in ("fc1.weight", "fc2.weight"))
        self.assertAlmostEqual(zeros / (40 * 12 + 3 * 40), 0.75, delta=0.01)  # over both layers (ERK)
        self.assertEqual(meta["fc1.weight.format"], "csr")
        self.assertLess(os.path.getsize(out), os.path.getsize(self.path) / 2)


if __name__ == "__main__":
    unittest.main()
