#!/usr/bin/env bash
# The runs behind docs/scaling.md (issue 20): the SET paper's MLPs with three
# hidden layers of H neurons (784-H-H-H-10, Erdos-Renyi at epsilon = 20) on
# Fashion-MNIST, one epoch each, for H = 3,000 / 30,000 / 300,000 / 600,000,
# with static sparsity and SET (and RigL with sampled growth where it fits).
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

# The SET paper trains with SGD at lr 0.01, momentum 0.9; at these widths
# the last layer (H x 10, dense at epsilon = 20) sums H inputs, and the
# programs' default lr 0.1 overshoots there.
COMMON=(--distribution er --epsilon 20 --epochs 1 --batch 128 --optimizer sgd --lr 0.01 --momentum 0.9
        --weight-decay 0.0002 --seed 1 --threads 2)

run() { # name args...
    local name=$1
    shift
    if [ -f "$out/$name.json" ]; then echo "== $name: done"; return; fi
    echo "== $name: spt-train-mlp $*"
    "$build/examples/spt-train-mlp" "$@" > "$out/$name.out"
    tail -n 1 "$out/$name.out" > "$out/$name.json"
}

for h in "${sizes[@]}"; do
    for m in static set; do
        run "mlp-$h-$m" --widths "$h,$h,$h" --method "$m" "${COMMON[@]}"
    done
done
