#!/usr/bin/env bash
# The runs behind docs/scaling.md, "Across processes" (issue 15): the
# CIFAR-10 MLP 3072-4000-1000-4000-10 of docs/results.md, RigL (ERK) at 90%
# and 99% sparsity, one epoch (391 steps of 128, delta_t 100: 3 topology
# updates), trained by 1 process x 2 threads and by mpirun -np 2 x 1 thread
# on the same machine, interleaved and repeated REPS times (default 3); and
# one static run per sparsity on 2 ranks (no topology update), whose bytes
# per step are an ordinary step's. Each run's JSON summary goes to
# OUT/<name>-<rep>.json (skipped when present: the script resumes).
#
#   bench/results/run-mpi.sh BUILD_DIR CIFAR_DIR OUT [REPS]
#   python3 bench/results/mpi_scaling.py OUT      # the tables
#
# Run it on an otherwise idle machine (`uptime`): the times are the table.
set -euo pipefail
build=$1 data=$2 out=$3 reps=${4:-3}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
MLP=(--data "$data" --widths 4000,1000,4000 --epochs 1 --batch 128 --optimizer sgd --lr 0.01 --momentum 0.9
     --weight-decay 0.0005 --lr-schedule cosine --dropout 0.3 --seed 1 --distribution erk --delta-t 100)
{ lscpu | grep -E "Model name|^CPU\(s\)"; uptime; env | grep -E "^OPENBLAS_(CORETYPE|L2_SIZE)=" || true; } \
    > "$out/machine.txt"

one() { # name launcher... -- program args
    local name=$1
    shift
    [ -f "$out/$name.json" ] && { echo "== $name: done"; return; }
    echo "== $name"
    uptime > "$out/$name.load"
    "$@" | tail -n 1 > "$out/$name.tmp" && mv "$out/$name.tmp" "$out/$name.json"
    uptime >> "$out/$name.load"
}

for s in 0.9 0.99; do
    one "static-$s-2x1" mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$build/examples/spt-train-mlp" \
        "${MLP[@]}" --method static --sparsity "$s" --threads 1 --limit 12800
done
for r in $(seq 1 "$reps"); do
    for s in 0.9 0.99; do
        one "rigl-$s-1x2-$r" "$build/examples/spt-train-mlp" "${MLP[@]}" --method rigl --sparsity "$s" --threads 2
        one "rigl-$s-2x1-$r" mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$build/examples/spt-train-mlp" \
            "${MLP[@]}" --method rigl --sparsity "$s" --threads 1
    done
done
