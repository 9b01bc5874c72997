"""Makes the real models Genie's capture tests and benchmarks use, with random weights
(nothing is downloaded): torchvision resnet18 and mobilenet_v2, a 2-layer
torch.nn.TransformerEncoder, and a Hugging Face BertModel with a small config. Each is saved
with torch.jit.trace and, where it works, torch.jit.script, and exported with
torch.export.export (saved with torch.export.save), beside its example inputs. Then ZOO: small
models that each once failed to capture (mobilenet_v3_small, a Swin transformer, a ViT
traced under no_grad), traced only.

    python testdata/models/make_models.py OUT_DIR [--only NAME]...

Writes, per model NAME: NAME.traced.pt, NAME.scripted.pt (when scripting works), NAME.pt2,
NAME.inputs.safetensors (input0, input1, ...), resnet18.dynamic.pt2 (batch dimension
dynamic, 1..64), and OUT_DIR/manifest.json describing them (input specs in genie-capture's
--input syntax). The files of one model hold the same weights. Deterministic: seeded (a .pt2
differs between runs only in its random .data/serialization_id).
"""
import argparse
import json
import os
import sys
import warnings

# PyTorch 2.14 refuses torch.jit.trace/script without this (TorchScript is deprecated).
os.environ.setdefault("TORCH_2_14_ONLY_UNSAFE_SILENCE_TORCHSCRIPT_ERROR", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

warnings.filterwarnings("ignore")


def resnet18():
    import torchvision
    return torchvision.models.resnet18(weights=None), [torch.randn(1, 3, 224, 224)]


def mobilenet_v2():
    import torchvision
    return torchvision.models.mobilenet_v2(weights=None), [torch.randn(1, 3, 224, 224)]


def transformer_encoder():
    layer = torch.nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    return model, [torch.randn(2, 16, 64)]


def bert():
    from transformers import BertConfig, BertModel
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64, torchscript=True,
                        return_dict=False)
    model = BertModel(config)
    input_ids = torch.randint(0, 1000, (1, 16))
    attention_mask = torch.ones(1, 16, dtype=torch.int64)
    return model, [input_ids, attention_mask]


MODELS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "transformer_encoder": transformer_encoder,
          "bert": bert}


# Models that once failed to capture, each for a path the four above do not take. Traced only,
# small configurations: they guard the capture path, not a second set of benchmarks.
def mobilenet_v3_small():
    """nn.Dropout(inplace=True): aten::dropout_, a composite in-place operator."""
    import torchvision
    return torchvision.models.mobilenet_v3_small(weights=None), [torch.randn(1, 3, 96, 96)]


def swin():
    """relative_position_bias_table[index]: a traced aten::index whose indices list is typed
    Optional[Long(49, 49)][], not Optional[Tensor][]; torch.roll, window partitioning. Its
    shifted-window mask is written through views (attn_mask[h, w] = count): the one model here
    captured with functionalization (model_capture.h)."""
    import torchvision
    model = torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4],
                                               window_size=[7, 7], num_classes=10)
    return model, [torch.randn(1, 3, 56, 56)]


def vit():
    """Traced under no_grad, as users do: nn.MultiheadAttention's fast path,
    aten::_native_multi_head_attention, which returns no tensor for the weights not asked for.
    Its root module prepends the class token (reshape, permute, cat): 20 of 26 nodes scoped."""
    import torchvision
    model = torchvision.models.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=4,
                                                 hidden_dim=64, mlp_dim=128, num_classes=10)
    return model, [torch.randn(1, 3, 64, 64)]


# name -> (maker, trace under torch.no_grad, share of nodes with a module scope the tests expect,
# whether it writes through a view)
ZOO = {"mobilenet_v3_small": (mobilenet_v3_small, False, 0.9, False), "swin": (swin, False, 0.9, True),
       "vit": (vit, True, 0.75, False)}


def export(model, inputs, dynamic_shapes=None):
    """torch.export.export, non-strict (the 2.14 default) first, strict if that fails."""
    try:
        return torch.export.export(model, tuple(inputs), dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as non_strict_error:  # noqa: BLE001
        try:
            return torch.export.export(model, tuple(inputs), dynamic_shapes=dynamic_shapes, strict=True)
        except Exception:  # noqa: BLE001
            raise non_strict_error


def spec(t: torch.Tensor) -> str:
    return "x".join(str(d) for d in t.shape) + ":" + str(t.dtype).replace("torch.", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--only", action="append", choices=sorted(MODELS) + sorted(ZOO))
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    manifest = {}
    for name in args.only or list(MODELS) + list(ZOO):
        torch.manual_seed(0)
        zoo = name in ZOO
        # The 2-layer BERT's root prepares the attention mask in 12 of its 64 nodes (docs/capture.md).
        make, trace_no_grad, scoped, view_writes = ZOO[name] if zoo else (MODELS[name], False, 0.8 if name == "bert" else 0.9, False)
        model, inputs = make()
        model.eval()
        entry = {"inputs": [spec(t) for t in inputs], "files": {}, "scoped_at_least": scoped,
                 "writes_through_views": view_writes}
        # Traced with autograd on (but the zoo's no_grad ones): under no_grad, TransformerEncoder
        # takes its fused fast path (one aten::_transformer_encoder_layer_fwd per layer) and the
        # graph would hide attention; the slow path is the same math, decomposed.
        with torch.set_grad_enabled(not trace_no_grad):
            traced = torch.jit.trace(model, tuple(inputs), check_trace=False)
        with torch.no_grad():
            traced.save(os.path.join(args.out_dir, f"{name}.traced.pt"))
            entry["files"]["traced"] = f"{name}.traced.pt"
            if not zoo:  # the zoo is traced only
                try:
                    scripted = torch.jit.script(model)
                    scripted.save(os.path.join(args.out_dir, f"{name}.scripted.pt"))
                    entry["files"]["scripted"] = f"{name}.scripted.pt"
                except Exception as e:  # noqa: BLE001 - scripting many HF models fails; say why
                    entry["script_error"] = str(e).strip().splitlines()[0][:200]
        # Export records TransformerEncoder's decomposed path (linear, scaled_dot_product_attention,
        # layer_norm), as the trace above does, never the fused _transformer_encoder_layer_fwd.
        if not zoo:
            torch.export.save(export(model, inputs), os.path.join(args.out_dir, f"{name}.pt2"))
            entry["files"]["exported"] = f"{name}.pt2"
        if name == "resnet18":
            # Exported at batch 2: export specialises a dimension whose example size is 1 and
            # then refuses to make it dynamic. The range includes 1, so the batch-1 inputs fit.
            batch = torch.export.Dim("batch", min=1, max=64)
            dynamic = export(model, [torch.cat([inputs[0], inputs[0]])], dynamic_shapes=({0: batch},))
            torch.export.save(dynamic, os.path.join(args.out_dir, f"{name}.dynamic.pt2"))
            entry["files"]["exported_dynamic"] = f"{name}.dynamic.pt2"
        save_file({f"input{i}": t.contiguous() for i, t in enumerate(inputs)},
                  os.path.join(args.out_dir, f"{name}.inputs.safetensors"))
        manifest[name] = entry
        print(f"{name}: {', '.join(entry['files'])}" + (f" (script: {entry['script_error']})" if "script_error" in entry else ""))
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
