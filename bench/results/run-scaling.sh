#!/usr/bin/env bash
# The runs behind docs/scaling.md (issue 20): the SET paper's MLPs with three
# hidden layers of H neurons (784-H-H-H-10, Erdos-Renyi at epsilon = 20) on
# Fashion-MNIST, one epoch each, for H = 3,000 / 30,000 / 300,000 / 600,000,
# with static sparsity, SET and RigL with sampled growth (--grow-sample 4).
# Each run's last JSON line (time per epoch, peak RSS, nonzeros, test
# accuracy) goes to OUT/<name>.json; a run whose JSON exists is skipped, so
# the script resumes where an interrupted session stopped (a run cut in the
# middle of its epoch starts that epoch again).
#
#   bench/results/run-scaling.sh BUILD_DIR OUT [H ...]
#
# Run it on an otherwise idle machine (`uptime`): the times are the table.
# The largest run needs about 5 GB of memory and, on 2 cores, tens of
# minutes.
set -euo pipefail
build=$1 out=$2
shift 2
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(3000 30000 300000 600000)
mkdir -p "$out"

# The SET paper trains with SGD, momentum 0.9. The learning rate is the
# program's default: 0.01, capped at 50 / F for a layer with F > 5,000
# nonzeros per output (here the dense H x 10 read-out: F = H), since a fixed
# 0.01 diverges at these widths (3 x 600,000: loss 1018 after 10 steps).
COMMON=(--distribution er --epsilon 20 --epochs 1 --batch 128 --optimizer sgd --momentum 0.9
        --weight-decay 0.0002 --seed 1 --threads 2)

# The machine and settings the times belong to.
{
    lscpu | grep -E '^(Model name|CPU\(s\))' || true
    echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-}"
} > "$out/machine.txt"

run() { # name args...
    local name=$1
    shift
    if [ -f "$out/$name.json" ]; then echo "== $name: done"; return; fi
    echo "== $name: spt-train-mlp $*"
    # the load average at the start and end of the run: an idle machine reads ~0 before and ~2 after
    { date -u +%FT%TZ; cat /proc/loadavg; } > "$out/$name.load"
    "$build/examples/spt-train-mlp" "$@" > "$out/$name.out"
    cat /proc/loadavg >> "$out/$name.load"
    tail -n 1 "$out/$name.out" > "$out/$name.json"
}

for h in "${sizes[@]}"; do
    for m in static set; do
        run "mlp-$h-$m" --widths "$h,$h,$h" --method "$m" "${COMMON[@]}"
    done
    # RigL with sampled growth (4 k candidates per layer and update): exact
    # RigL's dense gradient would be H^2 values per layer and update.
    run "mlp-$h-rigl-s4" --widths "$h,$h,$h" --method rigl --grow-sample 4 "${COMMON[@]}"
done
