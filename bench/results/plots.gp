# gnuplot -e "datadir='docs/results-data'; outdir='docs'" bench/results/plots.gp
# Plots for docs/results.md from the .dat files bench/results/tables.py writes.
set terminal pngcairo size 800,500 font ",11"
set grid
set key bottom left

set output outdir."/results-mlp-accuracy-vs-sparsity.png"
set title "CIFAR-10, MLP 3072-4000-1000-4000-10: test accuracy vs sparsity"
set xlabel "sparsity (fraction of zero weights)"
set ylabel "test accuracy"
files = system("ls ".datadir."/mlp-acc-vs-sparsity-*.dat 2>/dev/null")
plot for [f in files] f using 1:2 with linespoints pointsize 1.5 \
     title system("basename ".f." .dat | sed s/mlp-acc-vs-sparsity-//")

set output outdir."/results-accuracy-vs-epoch.png"
set title "CIFAR-10: test accuracy per epoch, dense vs RigL"
set xlabel "epoch"
set key bottom right
files = system("ls ".datadir."/*-dense-epochs.dat ".datadir."/*-rigl-*-epochs.dat 2>/dev/null")
plot for [f in files] f using 1:2 with lines linewidth 2 \
     title system("basename ".f." -epochs.dat")
