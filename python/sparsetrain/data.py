"""Data sets and mini-batches (sparsetrain/data.h).

Arrays handed in are example-major, ``N x C x H x W`` (or ``N x F``), as
Python users hold them. Batches handed out are feature-major with the batch
contiguous, ``C x H x W x B``: the layout the models and the trainer read.
"""
import ctypes

from . import _args
from . import _buffers as B
from . import errors
from ._handle import Handle, locked, reading, using
from ._lib import BatcherP, DatasetP, c_char_p, c_int64, c_uint64, lib

SPLIT_TRAIN = 0
SPLIT_TEST = 1
BATCH_SHUFFLE = 1
BATCH_DROP_LAST = 2
#: where Debian's dataset-fashion-mnist package puts Fashion-MNIST
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

_SPLITS = {"train": SPLIT_TRAIN, "test": SPLIT_TEST}


def _split(split):
    if isinstance(split, str):
        if split not in _SPLITS:
            raise errors.InvalidError("split %r is not 'train' or 'test'" % split, errors.ERR_INVALID)
        return _SPLITS[split]
    return _args.integer(split, "split", "int")


def _path(p):
    return _args.text(p, "path", path=True)


class Dataset(Handle):
    """N labelled examples of C x H x W pixels held by the library.

    Create with :meth:`load_mnist`, :meth:`load_idx`, :meth:`load_cifar10`,
    :meth:`load_cifar10_files` or :meth:`from_arrays`.

    Threads: every method but :meth:`set_normalization` only reads the
    dataset and runs at once with other reads, from batchers over it too.
    Closing it while batchers exist only marks it closed (the C object is
    freed with the last batcher)."""

    _destroy = lib.spt_dataset_destroy

    def __init__(self, ptr):
        super().__init__(ptr)

    @classmethod
    def _make(cls, call, *args):
        out = DatasetP()
        errors.check(call(*args, ctypes.byref(out)))
        return cls(out)

    @classmethod
    def load_mnist(cls, directory=None, split="train", limit=0):
        """MNIST or Fashion-MNIST from a directory of IDX files (default:
        :data:`FASHION_MNIST_DIR`). ``limit`` > 0 keeps the first examples."""
        d = None if directory is None else _path(directory)
        return cls._make(lib.spt_dataset_load_mnist, d, _split(split), _args.integer(limit, "limit"))

    @classmethod
    def load_idx(cls, images_path, labels_path, limit=0):
        """An IDX image file and label file (gzip or plain)."""
        return cls._make(lib.spt_dataset_load_idx, _path(images_path), _path(labels_path),
                         _args.integer(limit, "limit"))

    @classmethod
    def load_cifar10(cls, directory, split="train", limit=0):
        """CIFAR-10 from its binary distribution (cifar-10-batches-bin)."""
        return cls._make(lib.spt_dataset_load_cifar10, _path(directory), _split(split), _args.integer(limit, "limit"))

    @classmethod
    def load_cifar10_files(cls, paths, limit=0):
        """CIFAR-10-format files, in the order given."""
        paths = [_path(p) for p in paths]
        arr = (c_char_p * max(len(paths), 1))(*paths)
        return cls._make(lib.spt_dataset_load_cifar10_files, arr, _args.integer(len(paths), "len(paths)", "int"),
                         _args.integer(limit, "limit"))

    @classmethod
    def from_arrays(cls, images, labels, classes=None, shape=None):
        """A dataset copied from arrays: ``images`` example-major, ``N x C x H x W``
        (or ``N x F``, or ``N x H x W`` for one channel), float32 (used as given)
        or uint8 (scaled by 1/255 in batches); ``labels`` N ints in
        0 .. classes-1 (default classes: max label + 1). ``shape`` gives the
        image shape of flat data (an ``array.array`` or ``bytes`` without NumPy):
        ``(N, C, H, W)`` or ``(N, F)``."""
        is_u8 = _is_uint8(images)
        img = B.as_input(images, "u8" if is_u8 else "f32", "images")
        lab = B.as_input(labels, "i32", "labels")
        n, c, h, w = (_args.integer(d, "shape[%d]" % i)
                      for i, d in enumerate(_nchw(tuple(shape) if shape is not None else img.shape)))
        if n * c * h * w != img.size:
            raise errors.SizeError("images hold %d values, not %d x %d x %d x %d" % (img.size, n, c, h, w),
                                   errors.ERR_SIZE)
        if lab.size != n:
            raise errors.SizeError("%d labels for %d images" % (lab.size, n), errors.ERR_SIZE)
        if classes is None:
            classes = _max_label(labels) + 1
        fn = lib.spt_dataset_from_u8 if is_u8 else lib.spt_dataset_from_float
        return cls._make(fn, img.ptr, lab.ptr, n, c, h, w, _args.integer(classes, "classes"))

    @reading
    def _info(self):
        v = [c_int64() for _ in range(5)]
        errors.check(lib.spt_dataset_info(self._p, *[ctypes.byref(x) for x in v]))
        return [x.value for x in v]

    def __len__(self):
        return self._info()[0]

    @property
    def shape(self):
        """(C, H, W) of one example."""
        return tuple(self._info()[1:4])

    @property
    def features(self):
        c, h, w = self.shape
        return c * h * w

    @property
    def classes(self):
        return self._info()[4]

    @reading
    def labels(self):
        """All N labels (int32)."""
        out = B.new_output("i32", (len(self),))
        errors.check(lib.spt_dataset_labels(self._p, out.ptr, out.size))
        return B.result(out)

    @reading
    def gather(self, indices):
        """(x, labels) of the chosen examples: x is ``C x H x W x n`` (feature-major)."""
        idx = B.as_input(indices, "i64", "indices")
        c, h, w = self.shape
        n = idx.size
        if n < 1:
            raise errors.SizeError("no indices", errors.ERR_SIZE)
        x, y = B.new_output("f32", (c, h, w, n)), B.new_output("i32", (n,))
        errors.check(lib.spt_dataset_gather(self._p, idx.ptr, n, x.ptr, x.size, y.ptr))
        return B.result(x), B.result(y)

    @reading
    def compute_mean_std(self):
        """Per-channel (mean, std) of the scaled pixels, ignoring the normalisation."""
        c = self.shape[0]
        m, s = B.new_output("f32", (c,)), B.new_output("f32", (c,))
        errors.check(lib.spt_dataset_compute_mean_std(self._p, m.ptr, s.ptr, c))
        return B.result(m), B.result(s)

    @locked
    def set_normalization(self, mean=None, std=None):
        """Batches become (scale*pixel - mean[c]) / std[c]; both None removes it.
        The dataset's one change: it waits for the batches other threads are
        building from it (and for their other reads of it)."""
        c = self.shape[0]
        self._wait_for_readers()
        if mean is None and std is None:
            errors.check(lib.spt_dataset_set_normalization(self._p, None, None, c))
            return
        m, s = B.as_input(mean, "f32", "mean"), B.as_input(std, "f32", "std")
        if m.size != c or s.size != c:
            raise errors.SizeError("mean and std need %d values each" % c, errors.ERR_SIZE)
        errors.check(lib.spt_dataset_set_normalization(self._p, m.ptr, s.ptr, c))

    def normalize(self):
        """Set the normalisation to this dataset's own mean and std; returns them."""
        mean, std = self.compute_mean_std()
        self.set_normalization(mean, std)
        return mean, std

    @reading
    def get_normalization(self):
        c = self.shape[0]
        m, s = B.new_output("f32", (c,)), B.new_output("f32", (c,))
        errors.check(lib.spt_dataset_get_normalization(self._p, m.ptr, s.ptr, c))
        return B.result(m), B.result(s)

    @reading
    def subset(self, start, count):
        """A new dataset with examples start .. start+count-1."""
        return Dataset._make(lib.spt_dataset_subset, self._p, _args.integer(start, "start"),
                             _args.integer(count, "count"))

    @reading
    def split_random(self, n_holdout, seed=0):
        """(rest, holdout): a seeded random split into two new datasets."""
        rest, hold = DatasetP(), DatasetP()
        errors.check(lib.spt_dataset_split_random(self._p, _args.integer(n_holdout, "n_holdout"),
                                                  _args.integer(seed, "seed", "u64"), ctypes.byref(rest),
                                                  ctypes.byref(hold)))
        return Dataset(rest), Dataset(hold)

    def __repr__(self):
        if self.closed:
            return "<Dataset closed>"
        n, c, h, w, k = self._info()
        return "<Dataset %d x %d x %d x %d, %d classes>" % (n, c, h, w, k)


class Batcher(Handle):
    """Mini-batches over a Dataset in a seeded order; keeps the Dataset alive.

    Iterating yields ``(x, labels)`` for one epoch, x feature-major
    ``C x H x W x B`` (B <= batch_size on the last batch). Its calls read
    the dataset: batchers over one dataset run at once from several threads
    (one batcher, one thread at a time)."""

    _destroy = lib.spt_batcher_destroy
    _shares_owner_lock = False  # it reads its dataset in each call (see _handle)

    def __init__(self, dataset, batch_size, shuffle=True, drop_last=False, seed=0, crop_pad=0, hflip=False):
        flags = (BATCH_SHUFFLE if shuffle else 0) | (BATCH_DROP_LAST if drop_last else 0)
        batch_size = _args.integer(batch_size, "batch_size")
        seed = _args.integer(seed, "seed", "u64")
        out = BatcherP()
        with using(reads=((dataset, False),)):
            errors.check(lib.spt_batcher_create(dataset._p, batch_size, flags, seed, ctypes.byref(out)))
            super().__init__(out, borrows=(dataset,))
            self._shape = dataset.shape  # fixed for a dataset
        self.dataset = dataset
        self.batch_size = batch_size
        if crop_pad or hflip:
            self.set_augment(crop_pad, hflip)

    @locked
    def set_augment(self, crop_pad=0, hflip=False):
        """Random shifts of up to crop_pad pixels and random horizontal flips."""
        errors.check(lib.spt_batcher_set_augment(self._p, _args.integer(crop_pad, "crop_pad"), 1 if hflip else 0))

    @locked
    def set_shard(self, rank, size):
        """Give this process the share [B rank / size, B (rank+1) / size) of
        every batch of B (data-parallel training, :class:`Comm`): the same
        shuffled order and augmentation on every rank, the position moving
        by the whole batch."""
        errors.check(lib.spt_batcher_set_shard(self._p, _args.integer(rank, "rank"), _args.integer(size, "size")))

    @locked
    def batches_per_epoch(self):
        n = c_int64()
        errors.check(lib.spt_batcher_batches_per_epoch(self._p, ctypes.byref(n)))
        return n.value

    @locked
    def next(self):
        """The next (x, labels) of the epoch, or None at its end (the next
        call starts the next epoch)."""
        c, h, w = self._shape
        bs = self.batch_size
        x, y = B.new_output("f32", (c * h * w * bs,)), B.new_output("i32", (bs,))
        got = c_int64()
        errors.check(lib.spt_batcher_next(self._p, x.ptr, x.size, y.ptr, y.size, ctypes.byref(got)))
        n = got.value
        if n == 0:
            return None
        if B.HAVE_NUMPY:
            return x._owner[:c * h * w * n].reshape(c, h, w, n), y._owner[:n]
        x.shape, x.size, y.shape, y.size = (c, h, w, n), c * h * w * n, (n,), n
        return B.result(x), B.result(y)

    def __iter__(self):
        while True:
            batch = self.next()
            if batch is None:
                return
            yield batch

    def __len__(self):
        return self.batches_per_epoch()

    @property
    @locked
    def state(self):
        """(epoch, position, seed): restore with :attr:`state` = ... ."""
        e, p, s = c_int64(), c_int64(), c_uint64()
        errors.check(lib.spt_batcher_get_state(self._p, ctypes.byref(e), ctypes.byref(p), ctypes.byref(s)))
        return e.value, p.value, s.value

    @state.setter
    @locked
    def state(self, value):
        e, p, s = value
        errors.check(lib.spt_batcher_set_state(self._p, _args.integer(e, "epoch"), _args.integer(p, "position"),
                                               _args.integer(s, "seed", "u64")))


def _is_uint8(images):
    if B.HAVE_NUMPY:
        return getattr(images, "dtype", None) == B.np.uint8
    return isinstance(images, (bytes, bytearray)) or getattr(images, "typecode", None) == "B"


def _nchw(shape):
    if len(shape) == 2:
        return shape[0], shape[1], 1, 1
    if len(shape) == 3:
        return shape[0], 1, shape[1], shape[2]
    if len(shape) == 4:
        return tuple(shape)
    raise errors.SizeError("images must be N x F, N x H x W or N x C x H x W, got shape %s" % (shape,),
                           errors.ERR_SIZE)


def _max_label(labels):
    if B.HAVE_NUMPY:
        return int(B.np.max(labels)) if len(labels) else 0
    return max(labels) if len(labels) else 0
