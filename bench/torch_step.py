#!/usr/bin/env python3
"""The PyTorch twin of spt-bench-train-step's dense cases: one training step
(forward, cross-entropy, backward, SGD momentum 0.9 with weight decay 5e-4,
lr 0.01) of the same two networks on random data, timed the same way
(median, 10th and 90th percentile over --steps steps after --warmup).

    python3 bench/torch_step.py --model resnet20|mlp [--batch 128] [--threads 2]
                                [--steps 10] [--warmup 3] [--clock wall|cpu]

--clock cpu times with the process' CPU time (time.process_time), as
spt-bench-train-step --clock cpu does: meaningful with --threads 1 on a
shared machine.

Prints one JSON line: model, torch version, threads, batch, ms_median,
ms_p10, ms_p90. spt-bench-train-step --torch PYTHON runs it for its dense
rows (a reference for the speed of the dense path, never a dependency).

The networks are spt_model_create_resnet(3, 32, 32, n = 3, width 1, 10) and
spt_model_create_mlp(3072-4000-1000-4000-10): ResNet-20 for CIFAR (3x3
convolutions without bias, batch norm after each, projection shortcuts of a
1x1 convolution and batch norm where the shape changes, global average
pooling, a linear classifier) and the MLP with ReLU between its linear layers.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


def resnet20():
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 4000), nn.ReLU(), nn.Linear(4000, 1000), nn.ReLU(),
                         nn.Linear(1000, 4000), nn.ReLU(), nn.Linear(4000, 10))


def percentile(v, p):  # linear between order statistics, as the C benchmark
    v = sorted(v)
    r = p / 100.0 * (len(v) - 1)
    lo = int(r)
    return v[lo] + (r - lo) * (v[lo + 1] - v[lo]) if lo + 1 < len(v) else v[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("resnet20", "mlp"), required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    a = ap.parse_args()
    clock = time.perf_counter if a.clock == "wall" else time.process_time
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = resnet20() if a.model == "resnet20" else mlp()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    times = []
    for i in range(a.warmup + a.steps):
        t0 = clock()
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
        if i >= a.warmup:
            times.append(1000.0 * (clock() - t0))
    print(json.dumps({"model": a.model, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": a.batch, "ms_median": statistics.median(times), "ms_p10": percentile(times, 10),
                      "ms_p90": percentile(times, 90)}))


if __name__ == "__main__":
    main()
