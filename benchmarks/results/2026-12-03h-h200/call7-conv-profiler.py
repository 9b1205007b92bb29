# call 7: where a planned conv2d call's host time goes, under torch.profiler (H200, at 2e9f8ac)
import torch
from torch.profiler import ProfilerActivity, profile

from kernels.conv2d import conv2d

x = torch.randn(32, 64, 56, 56, device="cuda", dtype=torch.float16)
w = torch.randn(64, 64, 3, 3, device="cuda", dtype=torch.float16)
for _ in range(5):
    conv2d(x, w, padding=1)
torch.cuda.synchronize()
stats = torch.cuda.memory_stats()
print(stats.get("num_alloc_retries"), stats.get("num_device_alloc"), stats.get("num_device_free"))
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    for _ in range(10):
        conv2d(x, w, padding=1)
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
stats = torch.cuda.memory_stats()
print(stats.get("num_device_alloc"), stats.get("num_device_free"))
