# gnuplot -e "datadir='docs/results-data'; outdir='docs'" bench/results/plots.gp
# Plots for docs/results.md from the .dat files bench/results/tables.py writes.
set terminal pngcairo size 800,500 font ",11"
set grid

# Test accuracy vs sparsity, one line per method; dense as a dashed line.
set output outdir."/results-mlp-accuracy-vs-sparsity.png"
set title "CIFAR-10, MLP 3072-4000-1000-4000-10, 20 epochs: test accuracy vs sparsity"
set xlabel "sparsity (fraction of zero weights)"
set ylabel "test accuracy"
set key bottom left
set xrange [0.885:0.985]
stats datadir."/mlp-dense-acc.dat" using 1 nooutput
dense_acc = STATS_min
files = system("ls ".datadir."/mlp-acc-vs-sparsity-*.dat 2>/dev/null")
plot for [f in files] f using 1:2 with linespoints linewidth 2 pointsize 1.5 \
     title system("basename ".f." .dat | sed s/mlp-acc-vs-sparsity-//"), \
     dense_acc with lines dashtype 2 linewidth 2 linecolor rgb "black" title "dense"
unset xrange

# Test accuracy per epoch, dense and RigL, one plot per model.
set xlabel "epoch"
set key bottom right
set output outdir."/results-mlp-accuracy-vs-epoch.png"
set title "CIFAR-10, MLP: test accuracy per epoch, dense vs RigL"
files = system("ls ".datadir."/mlp-dense-epochs.dat ".datadir."/mlp-rigl-*-epochs.dat 2>/dev/null")
plot for [f in files] f using 1:2 with linespoints linewidth 2 title system("basename ".f." -epochs.dat")

set output outdir."/results-resnet20-accuracy-vs-epoch.png"
set title "CIFAR-10, ResNet-20: test accuracy per epoch, dense vs RigL and static (90%)"
files = system("ls ".datadir."/resnet20-*-epochs.dat 2>/dev/null")
plot for [f in files] f using 1:2 with linespoints linewidth 2 title system("basename ".f." -epochs.dat")
