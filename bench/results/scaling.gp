# gnuplot -e "datadir='docs/results-data'; outdir='docs'" bench/results/scaling.gp
# The plot of docs/scaling.md from the .dat files bench/results/scaling.py writes.
set terminal pngcairo size 800,500 font ",11"
set grid
set logscale xy
set output outdir."/scaling-time-per-epoch.png"
set title "784-H-H-H-10 MLP, Erdos-Renyi epsilon = 20: minutes per epoch"
set xlabel "hidden width H (neurons per hidden layer)"
set ylabel "minutes per epoch"
set key top left
set xrange [2000:900000]
plot datadir."/scaling-static.dat" using 1:2 with linespoints linewidth 2 pointsize 1.5 title "static (here, Fashion-MNIST)", \
     datadir."/scaling-set.dat" using 1:2 with linespoints linewidth 2 pointsize 1.5 title "SET (here, Fashion-MNIST)", \
     datadir."/scaling-rigl-s4.dat" using 1:2 with linespoints linewidth 2 pointsize 1.5 title "RigL, sampled growth (here)", \
     datadir."/scaling-anchor.dat" using 1:2 with linespoints dashtype 2 linewidth 2 linecolor rgb "black" title "SET paper (laptop, Cython)"
