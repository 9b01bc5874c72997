"""How far TF32 arithmetic moves a model's outputs from float32's, emulated on the CPU: the
operands of every convolution and linear layer are rounded to TF32 (10 mantissa bits, round
to nearest), as a GPU's tensor cores read them, and the outputs compared with plain float32.
genie-run --check's default tolerance for float32 outputs computed with TF32 rests on this
(lib/exec/output_check.h).

    python bench/tf32_error.py [MODEL...]      (torchvision names; default: resnet18 resnet50)
"""
import copy
import sys

import torch
import torchvision


def tf32(t: torch.Tensor) -> torch.Tensor:
    bits = t.contiguous().view(torch.int32)
    return ((bits + 0x1000) & ~0x1FFF).view(torch.float32)  # keep 10 of 23 mantissa bits


def emulated(model: torch.nn.Module) -> torch.nn.Module:
    m = copy.deepcopy(model)
    for layer in m.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            layer.weight.data = tf32(layer.weight.data)
            layer.register_forward_pre_hook(lambda _, args: (tf32(args[0]),))
    return m


def main() -> None:
    torch.manual_seed(0)
    for name in sys.argv[1:] or ["resnet18", "resnet50"]:
        model = getattr(torchvision.models, name)(weights=None).eval()
        tf = emulated(model)
        for _ in range(5):
            x = torch.randn(1, 3, 224, 224)
            with torch.no_grad():
                want, got = model(x), tf(x)
            scale = max(1.0, want.abs().max().item())
            diff = (got - want).abs().max().item()
            print(f"{name}: max |tf32 - float32| {diff:.3g} = {diff / scale:.2e} of the output's scale {scale:.3g}; "
                  f"equal by float32's defaults (1e-4, 1e-5): {torch.allclose(got, want, 1e-4, 1e-5 * scale)}, "
                  f"by TF32's (1e-3, 1e-3): {torch.allclose(got, want, 1e-3, 1e-3 * scale)}")


if __name__ == "__main__":
    main()
