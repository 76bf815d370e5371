"""The time figures of the summary count what their names say (issue 19:
a short RigL run printed `mask updates 0.569 s = 61.8%` next to `0 update
steps`, and a tiny run's JSON had a share of 1.57):

* method_init_seconds: the method's initialisation (initial topology, or
  scoring on data), not part of step_seconds;
* method_hook_seconds: the method's per-step hooks, a part of step_seconds,
  so method_hook_share lies in [0, 1];
* method_round_seconds: end-of-round work (lottery), not in the steps;
* update_steps / update_step_seconds / update_extra_*: the steps that
  changed the topology, their time and what they cost beyond ordinary steps;
* every figure is this invocation's, like `seconds`, also after --resume."""
import os

from ex_util import check, programs, run_ok, summary_json, tempdir, write_tiny_cifar

mlp, _ = programs()


def check_times(s, what):
    for k in ("step_seconds", "method_init_seconds", "method_hook_seconds", "method_round_seconds",
              "update_step_seconds", "update_extra_seconds"):
        check(s[k] >= 0, "%s: %s = %r" % (what, k, s[k]))
    check(s["step_seconds"] <= s["seconds"], "%s: step_seconds %r > seconds %r" % (what, s["step_seconds"],
                                                                                    s["seconds"]))
    check(s["method_hook_seconds"] <= s["step_seconds"] + 1e-3,
          "%s: hooks %r outside the steps %r" % (what, s["method_hook_seconds"], s["step_seconds"]))
    check(0 <= s["method_hook_share"] <= 1, "%s: method_hook_share %r" % (what, s["method_hook_share"]))
    check(0 <= s["update_extra_share"] <= 1, "%s: update_extra_share %r" % (what, s["update_extra_share"]))
    check(s["update_step_seconds"] <= s["step_seconds"] + 1e-3, "%s: update steps outside the steps" % what)
    check("mask_update_share" not in s, "%s: the old mixed figure is still there" % what)


with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=200, n_test=50)
    # A wide first layer: its initial topology takes longer than the few
    # steps of the run, the case that gave a share above 1.
    common = ["--data", data, "--limit", "200", "--test-limit", "50", "--widths", "1024", "--batch", "100",
              "--lr", "0.05", "--method", "rigl", "--sparsity", "0.9"]
    out, _ = run_ok(mlp, common + ["--epochs", "1", "--delta-t", "100"])
    s = summary_json(out)
    check_times(s, "rigl, no update step")
    check(s["update_steps"] == 0 and s["topology_updates"] == 0, "updates in a 2-step run: %r" % s["update_steps"])
    check(s["update_step_seconds"] == 0 and s["update_extra_seconds"] == 0, "update time without update steps")
    check(s["method_init_seconds"] > 0, "rigl: no initialisation time")
    text = out.strip().splitlines()
    check(any(l.startswith("method time") and "initialisation" in l and "per-step hooks" in l for l in text),
          "no 'method time' line naming initialisation and per-step hooks:\n" + out)
    check(not any("mask updates" in l for l in text), "the old 'mask updates' figure is printed:\n" + out)

    # Update steps: counted, inside the steps.
    ck = os.path.join(d, "run.ckpt")
    out, _ = run_ok(mlp, common + ["--epochs", "4", "--delta-t", "2", "--checkpoint", ck, "--stop-after", "2"])
    s = summary_json(out)
    check_times(s, "rigl, delta-t 2")
    check(s["update_steps"] >= 1, "rigl delta-t 2: no update step")
    # Resumed: this invocation's time only (the steps before the resume ran
    # in another process and are not in `seconds`).
    out, _ = run_ok(mlp, common + ["--epochs", "4", "--delta-t", "2", "--checkpoint", ck, "--resume", ck])
    check_times(summary_json(out), "rigl, resumed")

    # Scoring on data (SNIP) and rounds (lottery): initialisation and
    # end-of-round work outside the steps.
    small = ["--data", data, "--limit", "200", "--test-limit", "50", "--widths", "64", "--batch", "50",
             "--lr", "0.05"]
    s = summary_json(run_ok(mlp, small + ["--method", "snip", "--sparsity", "0.7", "--epochs", "1"])[0])
    check_times(s, "snip")
    check(s["method_init_seconds"] > 0, "snip: no initialisation time")
    s = summary_json(run_ok(mlp, small + ["--method", "lottery", "--sparsity", "0.5", "--lottery-rounds", "2",
                                          "--epochs", "1"])[0])
    check_times(s, "lottery")
    check(s["method_round_seconds"] > 0, "lottery: no end-of-round time")
print("ok")
