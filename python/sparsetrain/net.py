"""Your own networks (sparsetrain/net.h): describe a network layer by layer,
then build a :class:`~sparsetrain.Model` from it.

A :class:`Net` is a description (no weights): an input shape and a list of
layers, the *nodes*. Each layer method appends one layer that reads the
current output, the *tip* (at first the network's input, ``net.input``),
makes it the tip and returns its :class:`Node`::

    import sparsetrain as spt

    net = spt.Net((1, 28, 28))                       # C x H x W (or Net(784) for flat features)
    net.conv2d(out=16, kernel=3, padding=1)          # 16 x 28 x 28
    net.batchnorm()
    x = net.relu(name="stem")                        # the residual block's input
    net.conv2d(32, stride=2, padding=1)              # positional: the kind's parameters in key order
    net.batchnorm()
    net.relu()
    net.conv2d(out=32, padding=1)
    main = net.batchnorm()                           # 32 x 14 x 14
    with net.branch(x) as shortcut:                  # the tip goes back to x inside the block
        net.conv2d(out=32, kernel=1, stride=2)       # a projection shortcut
        net.batchnorm()
    net.add(shortcut.output)                         # tip (main, restored on exit) + the shortcut
    net.relu()
    net.global_avgpool()
    net.linear(out=10)                               # the last node: the logits
    model = net.build(seed=1)                        # or spt.Model.from_net(net, seed=1)

Layer methods and their keywords come from the library at import
(``spt_layer_kind_name``, ``spt_layer_param_name``,
``spt_layer_param_default``): every layer kind ``K`` is a method ``net.K(...)``
(``linear``, ``conv2d``, ``batchnorm``, ``relu``, ``maxpool``, ``avgpool``,
``global_avgpool``, ``flatten``, ``dropout``, ``add``, ``leaky_relu``,
``tanh``, ``gelu``, ... see :data:`KINDS`) taking the parameters that kind
reads as keywords (``out``, ``kernel``, ``stride``, ``padding``, ``bias``,
``rate``, ``density``, ``input``, ``groups``, ``slope``, ... see
:func:`layer_params`), or positionally in the library's key order, and
``name=`` (default: the library's ``<kind><index>``). ``net.layer(kind,
...)`` does the same with the kind as a string. A kind or parameter added to
the C library appears here without a change to this file.

- ``input`` (of ``add``) takes a :class:`Node` (``net.input`` for the
  network's input); ``bias`` takes a bool; ``density=1`` keeps a weight dense
  whatever the sparse method, a value in (0, 1) gives it its own density.
- Branches: ``with net.branch(node) as b:`` makes ``node`` the tip inside
  the block and restores the previous tip on exit; ``b.output`` is the last
  node of the branch. Or set ``net.tip = node`` yourself.
- Errors raise :class:`~sparsetrain.InvalidError` (an unknown keyword, a
  parameter the kind does not read, a value outside its domain, a bad name)
  or :class:`~sparsetrain.SizeError`; a failed call adds nothing. Shapes and
  required parameters (``out``) are checked by :meth:`Net.build`
  (``SizeError``, ``InvalidError`` naming the node).

Inspecting: ``len(net)``, ``net[i]`` or ``net["name"]``, iteration, and per
node ``.id``, ``.kind``, ``.name``, ``.input`` (the :class:`Node` it reads),
``.params`` (``{keyword: value}`` of the parameters its kind reads, defaults
included). ``model.net()`` gives back the description a model was built from
as a new :class:`Net` (which can be changed and built again).
"""
import ctypes
import keyword

from . import _args
from . import errors
from ._handle import Handle, locked
from ._lib import NetP, c_char_p, c_double, c_int, c_int64, lib

# ---- metadata from the library ------------------------------------------------

_MAX_IDS = 4096  # a bound on the kind and key numbers scanned (both are small and dense)
_NAME = "name"  # the keyword of the node's name


def _names(fn):
    out = []
    for i in range(_MAX_IDS):
        s = fn(i)
        if s is None:
            break
        out.append(s.decode())
    return tuple(out)


def _keyword(param):
    """The Python keyword of a library parameter name."""
    return param + "_" if keyword.iskeyword(param) or param == _NAME else param


#: layer kind names, indexed by spt_layer_kind value (from the library)
KINDS = _names(lib.spt_layer_kind_name)
#: parameter keywords, indexed by spt_layer_param key (from the library)
PARAMS = tuple(_keyword(p) for p in _names(lib.spt_layer_param_name))
_KIND_ID = {k: i for i, k in enumerate(KINDS)}
_PARAM_KEY = {p: i for i, p in enumerate(PARAMS)}
_INPUT = _PARAM_KEY.get("input", -1)
_BIAS = _PARAM_KEY.get("bias", -1)


def _whole(v):
    return int(v) if v == v and v not in (float("inf"), float("-inf")) and v == int(v) else v


def _defaults(kind):
    """{keyword: default} of the parameters a kind reads, in key order."""
    out = {}
    for key, name in enumerate(PARAMS):
        uses, value = c_int(), c_double()
        errors.check(lib.spt_layer_param_default(kind, key, ctypes.byref(uses), ctypes.byref(value)))
        if uses.value:
            out[name] = _whole(value.value)
    return out


_DEFAULTS = tuple(_defaults(k) for k in range(len(KINDS)))


def layer_params(kind):
    """``{keyword: default}`` of the parameters a layer kind (a name from
    :data:`KINDS` or an spt_layer_kind value) reads, in key order, from the
    library (spt_layer_param_default). A required parameter's default
    means unset (``out``: 0, ``input``: -2); :meth:`Net.build` refuses it."""
    return dict(_DEFAULTS[_kind_id(kind)])


def _kind_id(kind):
    if isinstance(kind, str):
        if kind not in _KIND_ID:
            raise errors.InvalidError("unknown layer kind %r (known: %s)" % (kind, ", ".join(KINDS)),
                                      errors.ERR_INVALID)
        return _KIND_ID[kind]
    k = _args.integer(kind, "layer kind", "int")
    if not 0 <= k < len(KINDS):
        raise errors.InvalidError("unknown layer kind %d" % k, errors.ERR_INVALID)
    return k


# ---- nodes ----------------------------------------------------------------------

class Node:
    """One node of a :class:`Net`: ``id`` (0, 1, ... in order of addition;
    -1 is the network's input, ``net.input``), and, read from the
    description, ``kind``, ``name``, ``input`` (the Node it reads) and
    ``params``. Pass it to ``net.add(node)``, ``net.branch(node)`` or
    ``net.tip = node``."""

    __slots__ = ("net", "id")

    def __init__(self, net, node_id):
        self.net = net
        self.id = _args.integer(node_id, "node id")

    def _node(self):
        kind, name, inp = c_int(), c_char_p(), c_int64()
        with self.net._use():
            errors.check(lib.spt_net_node(self.net._p, self.id, ctypes.byref(kind), ctypes.byref(name),
                                          ctypes.byref(inp)))
        return kind.value, name.value.decode(), inp.value

    @property
    def kind(self):
        """The layer kind's name ("input" for the network's input)."""
        return "input" if self.id < 0 else KINDS[self._node()[0]]

    @property
    def name(self):
        return "input" if self.id < 0 else self._node()[1]

    @property
    def input(self):
        """The Node this one reads (``net.input`` for the network's input;
        None for ``net.input`` itself). An ``add`` also reads
        ``params["input"]``."""
        return None if self.id < 0 else Node(self.net, self._node()[2])

    @property
    def params(self):
        """``{keyword: value}`` of every parameter the kind reads (the
        default where never set); whole values are ints. ``input`` is a
        node id (-1: the network's input)."""
        if self.id < 0:
            return {}
        out = {}
        with self.net._use():
            kind = self._node()[0]
            for name in _DEFAULTS[kind]:
                v = c_double()
                errors.check(lib.spt_net_get(self.net._p, self.id, _PARAM_KEY[name], ctypes.byref(v)))
                out[name] = _whole(v.value)
        return out

    def __getitem__(self, param):
        """One parameter's value, ``node["out"]``."""
        params = self.params
        if param not in params:
            raise KeyError(param)
        return params[param]

    def __eq__(self, other):
        return isinstance(other, Node) and other.net is self.net and other.id == self.id

    def __hash__(self):
        return hash((id(self.net), self.id))

    def __repr__(self):
        if self.net.closed:
            return "<Node %d>" % self.id
        if self.id < 0:
            return "<Node input %s>" % (self.net.input_shape,)
        params = ", ".join("%s=%s" % kv for kv in self.params.items())
        return "<Node %d %s %s(%s)>" % (self.id, self.name, self.kind, params)


class Branch:
    """The context of :meth:`Net.branch`: ``output`` is the branch's last
    node (its start when nothing was added), set when the block exits."""

    def __init__(self, net, start):
        self.net = net
        self.start = start
        self.output = None
        self._saved = None

    def __enter__(self):
        self._saved = self.net.tip
        self.net.tip = self.start
        return self

    def __exit__(self, *exc):
        self.output = self.net.tip
        self.net.tip = self._saved
        return False


# ---- the description --------------------------------------------------------------

class Net(Handle):
    """A network description: ``Net((C, H, W))``, ``Net((F,))`` or
    ``Net(F)`` for flat features. See the module's documentation."""

    _destroy = lib.spt_net_destroy

    def __init__(self, input_shape):
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        shape = tuple(_args.integer(d, "input_shape[%d]" % i) for i, d in enumerate(input_shape))
        if not 1 <= len(shape) <= 3:
            raise errors.SizeError("an input shape is (C, H, W), (C,) or C, not %r" % (input_shape,),
                                   errors.ERR_SIZE)
        shape = shape + (1,) * (3 - len(shape))
        out = NetP()
        errors.check(lib.spt_net_create(shape[0], shape[1], shape[2], ctypes.byref(out)))
        super().__init__(out)
        #: (C, H, W) of one example
        self.input_shape = shape
        #: the network's input, as a Node (id -1)
        self.input = Node(self, -1)

    @classmethod
    def _wrap(cls, ptr, input_shape):
        self = cls.__new__(cls)
        Handle.__init__(self, ptr)
        self.input_shape = tuple(input_shape)
        self.input = Node(self, -1)
        return self

    # ---- adding layers
    @locked
    def layer(self, kind, *args, name=None, **params):
        """Append a layer of ``kind`` (a name from :data:`KINDS`) reading the
        tip; it becomes the tip. Positional arguments are its parameters in
        the library's key order (see :func:`layer_params`), keywords by
        name. Returns its :class:`Node`. Nothing is added on failure."""
        k = _kind_id(kind)
        known = _DEFAULTS[k]
        if len(args) > len(known):
            raise errors.InvalidError("%s takes at most %d positional parameters (%s), %d given"
                                      % (KINDS[k], len(known), ", ".join(known), len(args)), errors.ERR_INVALID)
        values = dict(zip(known, args))
        for key, v in params.items():
            if key in values:
                raise errors.InvalidError("%s: %s given twice" % (KINDS[k], key), errors.ERR_INVALID)
            if key not in known:
                raise errors.InvalidError("a %s layer has no parameter %r (it reads: %s)"
                                          % (KINDS[k], key, ", ".join(known) or "none"), errors.ERR_INVALID)
            values[key] = v
        settings = [(_PARAM_KEY[key], self._value(key, v)) for key, v in values.items()]
        node = c_int64()
        errors.check(lib.spt_net_add_layer(self._p, k, None if name is None else _args.text(str(name), "name"),
                                           ctypes.byref(node)))
        try:
            for key, v in settings:
                errors.check(lib.spt_net_set(self._p, node.value, key, v))
        except BaseException:
            self._drop_last()
            raise
        return Node(self, node.value)

    def _value(self, key, v):
        if isinstance(v, Node):
            if v.net is not self:
                raise errors.InvalidError("%s: the node is from another network" % key, errors.ERR_INVALID)
            return float(v.id)
        if isinstance(v, Branch):
            raise errors.InvalidError("%s: pass the branch's output node (branch.output)" % key, errors.ERR_INVALID)
        if _PARAM_KEY.get(key) == _INPUT and v is None:
            return -1.0
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        try:
            return float(v)
        except (TypeError, ValueError):
            raise errors.InvalidError("%s = %r is not a number" % (key, v), errors.ERR_INVALID) from None

    def _drop_last(self):
        """Undo the node just added: the description is rebuilt without it
        (C has no removal), with the same ids, names, values and tip."""
        n = len(self) - 1
        tip = self.tip.id
        copy = NetP()
        errors.check(lib.spt_net_create(*self.input_shape, ctypes.byref(copy)))
        try:
            for i in range(n):
                node = Node(self, i)
                kind, name, inp = node._node()
                errors.check(lib.spt_net_set_tip(copy, inp))
                errors.check(lib.spt_net_add_layer(copy, kind, name.encode(), None))
                for key, v in node.params.items():
                    if v != _DEFAULTS[kind][key]:
                        errors.check(lib.spt_net_set(copy, i, _PARAM_KEY[key], float(v)))
            errors.check(lib.spt_net_set_tip(copy, tip if tip < n else (n - 1 if n else -1)))
        except BaseException:
            lib.spt_net_destroy(copy)
            raise
        old, self._ptr = self._ptr, copy
        lib.spt_net_destroy(old)

    # ---- the tip and branches
    @property
    @locked
    def tip(self):
        """The node the next layer reads (a :class:`Node`; ``net.input`` at
        first). Settable to a Node (or None for the network's input)."""
        node = c_int64()
        errors.check(lib.spt_net_tip(self._p, ctypes.byref(node)))
        return Node(self, node.value)

    @tip.setter
    @locked
    def tip(self, node):
        errors.check(lib.spt_net_set_tip(self._p, -1 if node is None else _args.integer(self._value("tip", node),
                                                                                          "tip")))

    def branch(self, start):
        """``with net.branch(node) as b:`` — layers added in the block read
        from ``node`` on; on exit the tip is restored and ``b.output`` is the
        branch's last node."""
        if start is not None:
            self._value("branch", start)  # checks it is a node of this network
        return Branch(self, start)

    # ---- inspection
    @locked
    def __len__(self):
        n = c_int64()
        errors.check(lib.spt_net_num_nodes(self._p, ctypes.byref(n)))
        return n.value

    def __getitem__(self, key):
        """Node by id (negative from the end) or by name."""
        n = len(self)
        if isinstance(key, str):
            for node in self:
                if node.name == key:
                    return node
            raise KeyError(key)
        i = int(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("node %d of %d" % (int(key), n))
        return Node(self, i)

    def __iter__(self):
        return iter(self.nodes)

    @property
    def nodes(self):
        """Every node, in order of addition."""
        return [Node(self, i) for i in range(len(self))]

    @locked
    def summary(self):
        """One line per node: id, name, kind, the node it reads, the
        parameters that differ from the kind's defaults."""
        lines = ["input %s" % "x".join(str(d) for d in self.input_shape)]
        for node in self:
            kind, name, inp = node._node()
            changed = ["%s=%s" % (k, v) for k, v in node.params.items() if v != _DEFAULTS[kind][k]]
            lines.append("%3d %-24s %-14s <- %-4s %s" % (node.id, name, KINDS[kind], inp, " ".join(changed)))
        return "\n".join(lines)

    @locked
    def weights(self):
        """The linear and convolution weights as a layer list, in node
        order: ``(shapes, densities)``, each shape a tuple (linear: out,
        in; conv: out, in/groups, k, k) and each density the layer's
        pinned one (1 dense, (0, 1) its own, 0 = the method's). ``shapes``
        feeds :func:`sparsetrain.sparsity.allocate` and
        :func:`~sparsetrain.sparsity.allocate_epsilon`, to see a run's
        nonzeros before building anything."""
        n = c_int64()
        errors.check(lib.spt_net_weights(self._p, 0, None, None, None, ctypes.byref(n)))
        cap = n.value
        ndim = (ctypes.c_int32 * max(cap, 1))()
        shape = (c_int64 * max(4 * cap, 1))()
        dens = (c_double * max(cap, 1))()
        errors.check(lib.spt_net_weights(self._p, cap, ndim, shape, dens, ctypes.byref(n)))
        return ([tuple(shape[4 * i:4 * i + ndim[i]]) for i in range(cap)], [dens[i] for i in range(cap)])

    def __repr__(self):
        if self.closed:
            return "<Net closed>"
        return "<Net %s, %d nodes>" % ("x".join(str(d) for d in self.input_shape), len(self))

    # ---- building
    @locked
    def build(self, seed=0):
        """A new :class:`~sparsetrain.Model` from this description (checked
        whole: shapes, required parameters), initialised from ``seed``. The
        description is copied: changing the Net later does not change it."""
        from .model import Model
        from ._lib import ModelP
        out = ModelP()
        errors.check(lib.spt_model_create(self._p, _args.integer(seed, "seed", "u64"), ctypes.byref(out)))
        return Model(out)


def _method(kind):
    defaults = _DEFAULTS[kind]

    def add_layer(self, *args, name=None, **params):
        return self.layer(kind, *args, name=name, **params)

    params = ", ".join("%s=%s" % kv for kv in defaults.items())
    add_layer.__name__ = add_layer.__qualname__ = KINDS[kind]
    add_layer.__doc__ = ("Append a %s layer reading the tip; returns its Node.\n\nParameters (library defaults): %s."
                         % (KINDS[kind], params or "none"))
    return add_layer


for _k, _kind_name in enumerate(KINDS):
    # A kind whose name is not an identifier, or would hide one of Net's own
    # attributes, is still available as net.layer("<kind>", ...).
    if _kind_name.isidentifier() and not keyword.iskeyword(_kind_name) and not hasattr(Net, _kind_name):
        setattr(Net, _kind_name, _method(_k))
del _k, _kind_name
