"""Writes tiny_cnn.traced.pt (checked in beside this script): the bundled example that
scripts/demo captures. A small image classifier with conv-bn-relu blocks, a residual add and a
linear head, random weights (torch.manual_seed(0)). Input: 1x3x32x32.

    python testdata/models/make_tiny_cnn.py [OUT_DIR]
"""
import os
import sys

os.environ.setdefault("TORCH_2_14_ONLY_UNSAFE_SILENCE_TORCHSCRIPT_ERROR", "1")
import torch  # noqa: E402
from torch import nn  # noqa: E402


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)) + x)


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.head(torch.flatten(self.pool(x), 1))


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(0)
    model = TinyCNN().eval()
    for m in model.modules():  # non-trivial running statistics, so batch norm matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    traced = torch.jit.trace(model, (torch.randn(1, 3, 32, 32),), check_trace=False)
    traced.save(os.path.join(out, "tiny_cnn.traced.pt"))
