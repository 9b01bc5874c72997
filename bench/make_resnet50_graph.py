"""Makes the resnet50 graph genie-viz's benchmark and docs use: torchvision resnet50 with
random weights (nothing is downloaded), traced and captured by genie-capture. Kept out of the
test suite (CI time): only bench/viz_bench and the doc recipe in docs/genie-viz.md read it.

    python bench/make_resnet50_graph.py GENIE_CAPTURE OUT_DIR

Writes OUT_DIR/resnet50.traced.pt and OUT_DIR/resnet50.traced.json (weights, not needed,
go to a temporary file). Deterministic: seeded.
"""
import os
import subprocess
import sys
import tempfile
import warnings

# PyTorch 2.14 refuses torch.jit.trace without this (TorchScript is deprecated).
os.environ.setdefault("TORCH_2_14_ONLY_UNSAFE_SILENCE_TORCHSCRIPT_ERROR", "1")

import torch  # noqa: E402
import torchvision  # noqa: E402

warnings.filterwarnings("ignore")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-4].strip(), file=sys.stderr)
        return 2
    capture, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    model_path = os.path.join(out, "resnet50.traced.pt")
    with torch.no_grad():
        torch.jit.trace(model, torch.randn(1, 3, 224, 224)).save(model_path)
    graph = os.path.join(out, "resnet50.traced.json")
    with tempfile.TemporaryDirectory(prefix="genie-weights-") as weights:
        result = subprocess.run([capture, model_path, "--input", "1x3x224x224", "-o", graph,
                                 "--weights", os.path.join(weights, "w.safetensors")],
                                capture_output=True, text=True)
    if result.returncode != 0:
        print(f"genie-capture failed (exit {result.returncode}): {result.stderr.strip()}", file=sys.stderr)
        return 1
    print(result.stderr.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
