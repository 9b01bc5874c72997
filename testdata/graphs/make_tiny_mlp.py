"""Writes tiny_mlp.json + tiny_mlp.safetensors: a two-layer MLP as a genie.graph, made by
hand from Python, the way an outside script would write the format (docs/graph-format.md).

    python testdata/graphs/make_tiny_mlp.py [OUT_DIR]

The weights are torch.manual_seed(0) randoms; the same run gives the same bytes.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file


def main(out_dir: str) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    weights = {name: t.detach().contiguous() for name, t in model.state_dict().items()}

    values, nodes = [], []

    def value(shape, residency):
        values.append({"id": len(values), "dtype": "float32", "shape": list(shape), "residency": residency})
        return len(values) - 1

    def node(op, overload, scope, module_type, inputs, out_shape):
        out = value(out_shape, "activation")
        nodes.append({"id": len(nodes), "op": op, "overload": overload, "scope": scope,
                      "module_type": module_type, "inputs": inputs, "outputs": [out]})
        return out

    x = value([2, 8], "input")
    params = {name: value(t.shape, "parameter") for name, t in weights.items()}
    h = node("aten::linear", "", "0", "Linear",
             [{"name": "input", "tensor": x}, {"name": "weight", "tensor": params["0.weight"]},
              {"name": "bias", "tensor": params["0.bias"]}], [2, 16])
    a = node("aten::relu", "", "1", "ReLU", [{"name": "self", "tensor": h}], [2, 16])
    y = node("aten::linear", "", "2", "Linear",
             [{"name": "input", "tensor": a}, {"name": "weight", "tensor": params["2.weight"]},
              {"name": "bias", "tensor": params["2.bias"]}], [2, 4])

    graph = {
        "format": "genie.graph",
        "version": {"major": 1, "minor": 0},
        "annotations": {"producer": "testdata/graphs/make_tiny_mlp.py", "model": "Sequential(Linear, ReLU, Linear)"},
        "inputs": [{"name": "x", "value": x}],
        "parameters": [{"name": n, "value": v} for n, v in params.items()],
        "outputs": [{"name": "output", "value": y}],
        "values": values,
        "nodes": nodes,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tiny_mlp.json"), "w") as f:
        json.dump(graph, f, indent=1)
        f.write("\n")
    save_file(weights, os.path.join(out_dir, "tiny_mlp.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
