#!/usr/bin/env bash
# Time per epoch and peak memory behind docs/results.md, tables 3 and 4:
# short runs of both programs, dense and sparse at each sparsity, one after
# the other on an otherwise idle machine (nothing else running: check
# `uptime`). Same flags as the accuracy runs (run-cifar10.sh) except the
# number of epochs.
#
#   bench/results/time-cifar10.sh BUILD_DIR CIFAR_DIR OUT [mlp|resnet|conv6|wrn|all]
#
# Run from the repository's root (conv6 and wrn read examples/models).
set -euo pipefail
build=$1 data=$2 out=$3 which=${4:-all}
mkdir -p "$out"

MLP_COMMON=(--data "$data" --widths 4000,1000,4000 --epochs 2 --batch 128 --optimizer sgd --lr 0.01
            --momentum 0.9 --weight-decay 0.0005 --lr-schedule cosine --dropout 0.3 --seed 1 --threads 2)
RES_COMMON=(--data "$data" --depth 20 --width 1 --epochs 1 --batch 128 --optimizer sgd --lr 0.1 --momentum 0.9
            --weight-decay 0.0005 --lr-schedule cosine --warmup 200 --augment --seed 1 --threads 2)
CONV6_COMMON=(--data "$data" --model examples/models/conv-6.model --epochs 1 --batch 128 --optimizer adam
              --lr 0.0003 --lr-schedule constant --no-augment --seed 1 --threads 2)
WRN_COMMON=(--data "$data" --model examples/models/wrn-22-2.model --epochs 1 --batch 128 --optimizer sgd
            --lr 0.1 --momentum 0.9 --weight-decay 0.0005 --lr-schedule cosine --warmup 200 --augment --seed 1 --threads 2)

run() { # name program args...
    local name=$1 prog=$2
    shift 2
    echo "== $name: $prog $*" >&2
    "$build/examples/$prog" "$@" --log "$out/$name.csv" > "$out/$name.out"
    tail -n 1 "$out/$name.out" > "$out/$name.json"
}

if [ "$which" = mlp ] || [ "$which" = all ]; then
    run time-mlp-dense spt-train-mlp "${MLP_COMMON[@]}" --method dense
    for s in 0.9 0.95 0.98 0.99; do
        for m in static rigl; do
            run "time-mlp-$m-$s" spt-train-mlp "${MLP_COMMON[@]}" --method "$m" --sparsity "$s" --distribution erk
        done
    done
fi
if [ "$which" = resnet ] || [ "$which" = all ]; then
    run time-resnet20-dense spt-train-resnet "${RES_COMMON[@]}" --method dense
    for s in 0.9 0.95 0.98; do
        for m in static rigl; do
            run "time-resnet20-$m-$s" spt-train-resnet "${RES_COMMON[@]}" --method "$m" --sparsity "$s" \
                --distribution erk --dense-first
        done
    done
fi
if [ "$which" = conv6 ] || [ "$which" = all ]; then
    run time-conv6-dense spt-train-resnet "${CONV6_COMMON[@]}" --method dense
    for s in 0.9 0.98; do
        for m in static rigl; do
            run "time-conv6-$m-$s" spt-train-resnet "${CONV6_COMMON[@]}" --method "$m" --sparsity "$s" \
                --distribution erk --dense-first --sparse-init
        done
    done
fi
if [ "$which" = wrn ] || [ "$which" = all ]; then
    run time-wrn22-2-dense spt-train-resnet "${WRN_COMMON[@]}" --method dense
    for m in static rigl; do
        run "time-wrn22-2-$m-0.9" spt-train-resnet "${WRN_COMMON[@]}" --method "$m" --sparsity 0.9 \
            --distribution erk --dense-first
    done
fi
