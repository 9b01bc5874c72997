"""Writes OUT_DIR/chain.traced.pt: a TorchScript model that adds its input to itself 10,000
times (10,000 aten::add nodes), for bench/model_capture_bench.

    python bench/make_chain_model.py OUT_DIR
"""
import os
import sys

os.environ.setdefault("TORCH_2_14_ONLY_UNSAFE_SILENCE_TORCHSCRIPT_ERROR", "1")
import torch  # noqa: E402


class Chain(torch.nn.Module):
    def forward(self, x):
        y = x
        for _ in range(10000):
            y = y + x
        return y


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.jit.trace(Chain(), (torch.ones(1),), check_trace=False).save(os.path.join(out, "chain.traced.pt"))
