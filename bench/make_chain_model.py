"""Writes OUT_DIR/chain.scripted.pt: a scripted TorchScript model whose loop adds its input
to a running sum N times (default 1,000,000), so that capturing it records N aten::add nodes
while the file stays a few lines long. For bench/model_capture_bench.

    python bench/make_chain_model.py OUT_DIR [N]
"""
import os
import sys

os.environ.setdefault("TORCH_2_14_ONLY_UNSAFE_SILENCE_TORCHSCRIPT_ERROR", "1")
import torch  # noqa: E402


class Chain(torch.nn.Module):
    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def forward(self, x):
        y = x
        for _ in range(self.length):
            y = y + x
        return y


if __name__ == "__main__":
    out = sys.argv[1]
    length = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    os.makedirs(out, exist_ok=True)
    torch.jit.script(Chain(length)).save(os.path.join(out, "chain.scripted.pt"))
