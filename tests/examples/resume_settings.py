"""--resume checks the flags against the run it continues (docs/examples.md,
"Resuming"): the checkpoint records the saved run's settings; flags left out
are adopted (the JSON reports what ran), a flag given with another value is
refused (exit 2) with every such flag listed, before the data is read; a
finished run is not extended; another program's checkpoint is refused; a
checkpoint the library refuses, or one without a saved batcher position
(SPT_ERR_STATE), exits 1; data that differ from the saved run's exit 1; a
checkpoint that records no settings (an older version) resumes with a
warning and the network checked."""
import os
import struct
import zlib

from ex_util import check, programs, run, run_ok, summary_json, tempdir, write_tiny_idx

mlp, resnet = programs()
NOWHERE = ["--data", "/nonexistent/spt-examples-data"]


def sections(path):
    """(header fields, [(tag, flags, content)]) of a checkpoint file."""
    with open(path, "rb") as f:
        b = f.read()
    magic, version, flags, payload, n, reserved = struct.unpack_from("<8sIIQII", b, 0)
    out, off = [], 32
    for _ in range(n):
        tag, sflags, length = struct.unpack_from("<4sIQ", b, off)
        out.append((tag, sflags, b[off + 16:off + 16 + length]))
        off += 16 + length
    return (magic, version, flags, reserved), out


def write_without(src, dst, tag):
    """A copy of checkpoint src without section `tag`, with a valid checksum."""
    (magic, version, flags, reserved), secs = sections(src)
    body = b"".join(struct.pack("<4sIQ", t, f, len(c)) + c for t, f, c in secs if t != tag)
    head = struct.pack("<8sIIQII", magic, version, flags, len(body), len([s for s in secs if s[0] != tag]), reserved)
    img = head + body
    with open(dst, "wb") as f:
        f.write(img + struct.pack("<I", zlib.crc32(img) & 0xFFFFFFFF))


def refused(prog, args, *needles):
    rc, out, err = run(prog, args, timeout=120)
    lines = err.strip().splitlines()
    check(rc == 2 and not out and len(lines) == 1, "%s: exit %d, stdout %r, stderr %r" % (" ".join(args), rc, out, err))
    for n in needles:
        check(n in err, "%s: %r lacks %r" % (" ".join(args), err, n))
    return err


with tempdir() as d:
    data = write_tiny_idx(os.path.join(d, "idx"), n_train=96, n_test=32)
    ck, done = os.path.join(d, "run.ckpt"), os.path.join(d, "done.ckpt")
    flags = ["--data", data, "--limit", "96", "--test-limit", "32", "--widths", "24,12", "--epochs", "3",
             "--batch", "16", "--method", "set", "--sparsity", "0.7", "--delta-t", "2", "--lr", "0.05",
             "--seed", "5", "--dropout", "0.1"]
    whole = summary_json(run_ok(mlp, flags)[0])
    first = summary_json(run_ok(mlp, flags + ["--checkpoint", ck, "--stop-after", "1"])[0])
    check(first["steps"] == 6, "stopped run: %r steps" % first["steps"])

    # Each flag given with another value: refused before the data is read (the
    # data directory is pointed nowhere), the flag and the saved value named.
    for args, needle in ((["--widths", "32,12"], "--widths 32,12 (the saved run's: 24,12)"),
                         (["--method", "rigl"], "--method rigl (the saved run's: set)"),
                         (["--sparsity", "0.8"], "--sparsity 0.8 (the saved run's: 0.7)"),
                         (["--batch", "8"], "--batch 8 (the saved run's: 16)"),
                         (["--limit", "64"], "--limit 64 (the saved run's: 96)"),
                         (["--epochs", "6"], "--epochs 6 (the saved run's: 3"),
                         (["--lr", "0.1"], "--lr 0.1 (the saved run's: 0.05)"),
                         (["--seed", "6"], "--seed 6 (the saved run's: 5)"),
                         (["--dropout", "0.2"], "--dropout 0.2 (the saved run's: 0.1)"),
                         (["--delta-t", "3"], "--delta-t 3 (the saved run's: 2)"),
                         (["--optimizer", "adam"], "--optimizer adam (the saved run's: sgd)"),
                         (["--augment"], "--augment (the saved run's: off)"),
                         (["--model", "m.model"], "the saved run trained the program's own network")):
        refused(mlp, NOWHERE + ["--resume", ck] + args, needle, "run.ckpt")
    # Several at once: each listed, in one line.
    err = refused(mlp, NOWHERE + ["--resume", ck, "--widths", "8", "--epochs", "9", "--sparsity", "0.5"],
                  "3 flags differ", "--widths 8", "--epochs 9", "--sparsity 0.5")
    # Values equal to the saved ones are no change, whether the saved run gave them or took the default.
    rc, out, err = run(mlp, NOWHERE + ["--resume", ck, "--widths", "24,12", "--sparsity", "0.70", "--momentum", "0.9",
                                       "--distribution", "erk", "--epochs", "3"])
    check(rc == 1 and "/nonexistent/spt-examples-data" in err, "equal flags: exit %d %r" % (rc, err))

    # --resume alone: the saved settings are adopted; the run ends as the uninterrupted one.
    resumed = summary_json(run_ok(mlp, ["--resume", ck, "--checkpoint", done])[0])
    for k in ("model", "method", "batch", "epochs", "steps", "seed"):
        check(resumed[k] == whole[k], "resumed %s %r, uninterrupted %r" % (k, resumed[k], whole[k]))
    check(abs(resumed["sparsity"] - whole["sparsity"]) < 1e-6, "sparsity %r vs %r" % (resumed["sparsity"],
                                                                                     whole["sparsity"]))

    # The ResNet's own flags.
    rck = os.path.join(d, "resnet.ckpt")
    run_ok(resnet, ["--data", data, "--limit", "64", "--test-limit", "32", "--depth", "8", "--batch", "32",
                    "--epochs", "2", "--checkpoint", rck, "--stop-after", "1"])
    refused(resnet, NOWHERE + ["--resume", rck, "--depth", "14", "--width", "2"], "2 flags differ",
            "--depth 14 (the saved run's: 8)", "--width 2 (the saved run's: 1)")
    refused(mlp, NOWHERE + ["--resume", rck], "saved by spt-train-resnet")

    # A finished run is not extended: more epochs are refused with the reason.
    refused(mlp, ["--resume", done, "--epochs", "6"], "cannot be extended", "start a new run")
    # Another program's checkpoint.
    refused(resnet, NOWHERE + ["--resume", ck], "saved by spt-train-mlp", "resume it with spt-train-mlp")

    # Data that are not the saved run's: exit 1 naming both.
    other = write_tiny_idx(os.path.join(d, "other"), n_train=64, n_test=32)
    rc, out, err = run(mlp, ["--resume", ck, "--data", other])
    check(rc == 1 and "trained on 96 examples" in err and "has 64 of" in err, "other data: exit %d %r" % (rc, err))
    # The same data elsewhere is the same run.
    import shutil
    moved = shutil.copytree(data, os.path.join(d, "moved"))
    rc, out, err = run(mlp, ["--resume", ck, "--data", moved, "--stop-after", "1"])
    check(rc == 0, "moved data: exit %d %r" % (rc, err))

    # A damaged checkpoint: exit 1 naming it, before the data is read.
    bad = os.path.join(d, "bad.ckpt")
    with open(ck, "rb") as f:
        img = bytearray(f.read())
    img[len(img) // 2] ^= 0x10
    with open(bad, "wb") as f:
        f.write(img)
    rc, out, err = run(mlp, NOWHERE + ["--resume", bad])
    check(rc == 1 and "bad.ckpt" in err and "checksum" in err, "damaged: exit %d %r" % (rc, err))

    # No batcher position in the checkpoint (spt_trainer_load: SPT_ERR_STATE): exit 1.
    nob = os.path.join(d, "nobatcher.ckpt")
    write_without(ck, nob, b"BTCH")
    rc, out, err = run(mlp, ["--resume", nob])
    check(rc == 1 and "nobatcher.ckpt" in err, "no batcher state: exit %d %r" % (rc, err))

    # No settings (a checkpoint of an older version): a warning; the flags as
    # given; the network checked against the checkpoint's.
    old = os.path.join(d, "old.ckpt")
    write_without(ck, old, b"NOTE")
    old2 = os.path.join(d, "old2.ckpt")
    rc, out, err = run(mlp, flags + ["--resume", old, "--checkpoint", old2])
    check(rc == 0 and "records no settings" in err, "old checkpoint: exit %d %r" % (rc, err))
    check(summary_json(out)["steps"] == whole["steps"], "old checkpoint: steps")
    # What it saves records no settings either (the flags need not describe what ran).
    rc, out, err = run(mlp, NOWHERE + ["--resume", old2])
    check(rc == 1 and "records no settings" in err, "resumed old checkpoint's own: exit %d %r" % (rc, err))
    wider = list(flags)
    wider[wider.index("--widths") + 1] = "30,12"
    rc, out, err = run(mlp, wider + ["--resume", old])
    check(rc == 2 and "another network" in err and "--widths 30,12" in err, "old checkpoint, other widths: exit %d %r"
          % (rc, err))
print("ok")
