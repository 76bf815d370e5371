"""Networks (sparsetrain/model.h): an MLP, a CIFAR ResNet or your own
(:class:`sparsetrain.Net`, net.h), inference,
per-layer information and the weights of a layer as CSR or dense arrays.

Batches handed to a model are feature-major, ``C x H x W x N`` or ``F x N``
(see :func:`sparsetrain.to_feature_major`)."""
import collections
import ctypes

from . import _args
from . import _buffers as B
from . import errors
from ._handle import Handle, locked
from ._lib import ModelP, c_char_p, c_double, c_int64, lib

#: One primitive layer: weight shape (rows, cols) as a matrix, 0 without a weight.
LayerInfo = collections.namedtuple("LayerInfo", "index name kind rows cols nnz density")


class Model(Handle):
    """A network with its parameters. Create with :meth:`mlp`, :meth:`resnet`
    or :meth:`from_net` (your own network, :class:`sparsetrain.Net`)."""

    _destroy = lib.spt_model_destroy

    def __init__(self, ptr):
        super().__init__(ptr)

    @classmethod
    def mlp(cls, widths, seed=0):
        """Linear - ReLU - Dropout - ... - Linear over ``widths`` = [inputs,
        hidden..., classes] (image inputs are flat: C*H*W)."""
        w = B.as_input(list(widths), "i64", "widths")
        n = _args.integer(w.size, "len(widths)", "int")
        out = ModelP()
        errors.check(lib.spt_model_create_mlp(w.ptr, n, _args.integer(seed, "seed", "u64"), ctypes.byref(out)))
        return cls(out)

    @classmethod
    def resnet(cls, input_shape=(3, 32, 32), blocks_per_stage=3, width=1, classes=10, seed=0):
        """A CIFAR ResNet (6n+2 layers; ResNet-20 is blocks_per_stage=3)."""
        c, h, w = (_args.integer(d, "input_shape[%d]" % i) for i, d in enumerate(input_shape))
        sizes = [_args.integer(v, k) for v, k in ((blocks_per_stage, "blocks_per_stage"), (width, "width"),
                                                  (classes, "classes"))]
        out = ModelP()
        errors.check(lib.spt_model_create_resnet(c, h, w, *sizes, _args.integer(seed, "seed", "u64"),
                                                 ctypes.byref(out)))
        return cls(out)

    @classmethod
    def from_net(cls, net, seed=0):
        """A model from a network description (:class:`sparsetrain.Net`),
        initialised from ``seed``: the same as ``net.build(seed)``."""
        return net.build(seed)

    @classmethod
    def from_safetensors(cls, path, seed=0):
        """The model an :meth:`export` of this library holds: its network
        (from the file's description) with the file's weights. ``seed``
        only matters for dropout."""
        from ._lib import NetP
        p = _args.text(path, "path", path=True)
        net = NetP()
        errors.check(lib.spt_safetensors_read_net(p, ctypes.byref(net)))
        out = ModelP()
        try:
            errors.check(lib.spt_model_create(net, _args.integer(seed, "seed", "u64"), ctypes.byref(out)))
        finally:
            lib.spt_net_destroy(net)
        model = cls(out)
        model.load_weights(path)
        return model

    @locked
    def export(self, path, dense=False):
        """Write the parameters and batch-norm statistics to a safetensors
        file, atomically (sparse weights as CSR triples ``<name>.values``,
        ``.col_indices``, ``.crow_indices``; ``dense=True`` writes every
        weight dense, a plain PyTorch state_dict). docs/safetensors.md shows
        how to read it with NumPy, SciPy or PyTorch alone."""
        errors.check(lib.spt_model_save_safetensors(self._p, _args.text(path, "path", path=True),
                                                    1 if dense else 0))

    @locked
    def load_weights(self, path):
        """Replace every parameter and batch-norm statistic with those of a
        safetensors file (an :meth:`export`, or a PyTorch state_dict of the
        same network saved with safetensors). All or nothing; refused
        (StateError) once a trainer is attached. Weights stored sparse in
        the file stay sparse and keep their topology under a sparse method."""
        errors.check(lib.spt_model_load_safetensors(self._p, _args.text(path, "path", path=True)))

    @locked
    def net(self):
        """The description this model was built from, as a new
        :class:`sparsetrain.Net` (nodes, kinds, names, parameters); it can be
        inspected, changed and built again."""
        from ._lib import NetP
        from .net import Net
        out = NetP()
        errors.check(lib.spt_model_net(self._p, ctypes.byref(out)))
        return Net._wrap(out, self.input_shape)

    # ---- information
    @property
    @locked
    def input_shape(self):
        """(C, H, W) of one example."""
        v = [c_int64() for _ in range(3)]
        errors.check(lib.spt_model_input_shape(self._p, *[ctypes.byref(x) for x in v]))
        return tuple(x.value for x in v)

    @property
    def features(self):
        c, h, w = self.input_shape
        return c * h * w

    @property
    @locked
    def classes(self):
        k = c_int64()
        errors.check(lib.spt_model_num_classes(self._p, ctypes.byref(k)))
        return k.value

    @locked
    def num_layers(self):
        n = c_int64()
        errors.check(lib.spt_model_num_layers(self._p, ctypes.byref(n)))
        return n.value

    @locked
    def layer(self, i):
        """:class:`LayerInfo` of primitive layer i (composites expanded)."""
        i = _args.integer(i, "layer index")
        name, kind = c_char_p(), c_char_p()
        errors.check(lib.spt_model_layer_info(self._p, i, ctypes.byref(name), ctypes.byref(kind)))
        r, c, z, d = c_int64(), c_int64(), c_int64(), c_double()
        errors.check(lib.spt_model_layer_weight(self._p, i, ctypes.byref(r), ctypes.byref(c), ctypes.byref(z),
                                                ctypes.byref(d)))
        return LayerInfo(i, name.value.decode(), kind.value.decode(), r.value, c.value, z.value, d.value)

    @locked
    def layers(self):
        """Every primitive layer, in forward order."""
        return [self.layer(i) for i in range(self.num_layers())]

    def weight_layers(self):
        """The layers that have a weight (linear and convolution)."""
        return [L for L in self.layers() if L.rows > 0]

    @locked
    def num_params(self):
        """(dense, nonzero) parameter counts over every parameter."""
        d, z = c_int64(), c_int64()
        errors.check(lib.spt_model_num_params(self._p, ctypes.byref(d), ctypes.byref(z)))
        return d.value, z.value

    @locked
    def flops(self, dense=False):
        """Forward FLOPs per example (2 per multiply-add), current sparsity or dense."""
        f = c_double()
        errors.check(lib.spt_model_flops(self._p, 1 if dense else 0, ctypes.byref(f)))
        return f.value

    # ---- weights
    def _weight_layer(self, i):
        info = self.layer(i)
        if info.rows == 0:
            raise errors.InvalidError("layer %d (%s, %s) has no weight" % (info.index, info.name, info.kind),
                                      errors.ERR_INVALID)
        return info

    @locked
    def weight_csr(self, i):
        """The active weights of layer i as CSR arrays (row_ptr int64,
        col_idx int32, values float32) over its rows x cols matrix view
        (a convolution out x in x kh x kw is out x (in*kh*kw))."""
        info = self._weight_layer(i)
        rp, ci, va = B.new_output("i64", (info.rows + 1,)), B.new_output("i32", (info.nnz,)), \
            B.new_output("f32", (info.nnz,))
        errors.check(lib.spt_model_layer_weight_csr(self._p, info.index, rp.ptr, rp.size, ci.ptr, va.ptr,
                                                    info.nnz))
        return B.result(rp), B.result(ci), B.result(va)

    @locked
    def weight_dense(self, i):
        """The weight of layer i as a dense rows x cols array (0 where inactive)."""
        info = self._weight_layer(i)
        out = B.new_output("f32", (info.rows, info.cols))
        errors.check(lib.spt_model_layer_weight_dense(self._p, info.index, out.ptr, out.size))
        return B.result(out)

    # ---- inference
    def _batch(self, x):
        X = B.as_input(x, "f32", "x")
        return X, batch_size_of(X, self.features)

    @locked
    def forward(self, x):
        """Logits ``K x N`` of a feature-major batch x (evaluation mode)."""
        X, n = self._batch(x)
        out = B.new_output("f32", (self.classes, n))
        errors.check(lib.spt_model_forward(self._p, X.ptr, n, out.ptr))
        return B.result(out)

    @locked
    def predict(self, x):
        """Predicted class of each example of a feature-major batch."""
        X, n = self._batch(x)
        out = B.new_output("i32", (n,))
        errors.check(lib.spt_model_predict(self._p, X.ptr, n, out.ptr))
        return B.result(out)

    @locked
    def evaluate(self, x, labels):
        """(mean loss, correct count) over a feature-major batch."""
        X, n = self._batch(x)
        y = labels_for(labels, n)
        loss, correct = c_double(), c_int64()
        errors.check(lib.spt_model_evaluate(self._p, X.ptr, y.ptr, n, ctypes.byref(loss), ctypes.byref(correct)))
        return loss.value, correct.value

    @locked
    def set_dropout(self, p):
        """Dropout rate of every dropout layer of an MLP, in [0, 1)."""
        errors.check(lib.spt_model_set_dropout(self._p, float(p)))

    def __repr__(self):
        if self.closed:
            return "<Model closed>"
        dense, nonzero = self.num_params()
        return "<Model %s -> %d, %d layers, %d/%d params>" % (self.input_shape, self.classes, self.num_layers(),
                                                              nonzero, dense)


def batch_size_of(X, features):
    """N of a feature-major batch Buf of ``features`` x N values, checked
    here because C trusts the caller's buffer length."""
    if X.shape and len(X.shape) >= 2:
        n = X.shape[-1]
    else:
        n = X.size // features if features else 0
    if n < 1 or X.size != features * n:
        raise errors.SizeError("a batch of %d values (shape %s) is not %d features x N (feature-major; "
                               "see sparsetrain.to_feature_major)" % (X.size, X.shape, features), errors.ERR_SIZE)
    return n


def labels_for(labels, n):
    y = B.as_input(labels, "i32", "labels")
    if y.size != n:
        raise errors.SizeError("%d labels for a batch of %d" % (y.size, n), errors.ERR_SIZE)
    return y
