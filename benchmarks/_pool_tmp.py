import numpy as np, torch, time
import manualnet as mn
from benchmarks.conv import _pair
from benchmarks.ops import _median_call_time
torch.set_num_threads(1)
for shape in [(64,16,28,28),(64,32,14,14)]:
    for name in ["MaxPool2d","AvgPool2d"]:
        ours, theirs = getattr(mn, name)(2), getattr(torch.nn, name)(2)
        print(name, shape, [round(v) for v in _pair(torch, ours, theirs, shape, 0.2, 7)])
    bn, tbn = mn.BatchNorm2d(shape[1]), torch.nn.BatchNorm2d(shape[1])
    print("BN", shape, [round(v) for v in _pair(torch, bn, tbn, shape, 0.2, 7)])
    relu, trelu = mn.ReLU(), torch.nn.ReLU()
    print("ReLU", shape, [round(v) for v in _pair(torch, relu, trelu, shape, 0.2, 7)])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    print("check_finite vdot", round(_median_call_time(lambda: np.vdot(x, x), 0.2, 7)*1e6))
