# PyTorch peer of `pruefplatz bench train`: trains the benchmark's reference
# net on the data the Go side wrote and prints training images/s as JSON.
# argv: data.f32 labels.i64 n steps warmup threads batch seed
import json, sys, time

import numpy as np
import torch
import torch.nn as nn

data, labels = sys.argv[1], sys.argv[2]
n, steps, warmup, threads, batch, seed = (int(a) for a in sys.argv[3:9])
torch.set_num_threads(threads)
torch.manual_seed(seed)

x = torch.from_numpy(np.fromfile(data, dtype=np.float32).reshape(n, 3, 64, 64))
y = torch.from_numpy(np.fromfile(labels, dtype=np.int64))

net = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 5),
)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
lossf = nn.CrossEntropyLoss()


def step(k):
    s = (k * batch) % (n - batch + 1)
    loss = lossf(net(x[s:s + batch]), y[s:s + batch])
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


for k in range(warmup):
    step(k)
t = time.perf_counter()
for k in range(steps):
    loss = step(warmup + k)
loss.item()
secs = time.perf_counter() - t
print(json.dumps({"images_per_second": steps * batch / secs, "torch": torch.__version__, "threads": threads}))
