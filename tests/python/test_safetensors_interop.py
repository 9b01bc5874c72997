"""Python's safetensors reads what Genie writes, and Genie reads what Python writes."""
import json
import subprocess

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def test_python_reads_genie_files(safetensors_tool, tmp_path):
    path = tmp_path / "genie.safetensors"
    subprocess.run([safetensors_tool, "write", path], check=True)
    tensors = load_file(path)
    expected_f32 = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5 - 3.0
    assert torch.equal(tensors["encoder.layer.0.weight"], expected_f32)
    assert torch.equal(tensors["f64"], torch.tensor([1.0 / 3.0, -2.5, 1e300], dtype=torch.float64))
    assert torch.equal(tensors["i64"], torch.tensor([-(1 << 62), 0, 42], dtype=torch.int64))
    assert torch.equal(tensors["i32"], torch.tensor([[7], [-7]], dtype=torch.int32))
    assert torch.equal(tensors["u8"], torch.tensor([0, 127, 255], dtype=torch.uint8))
    assert torch.equal(tensors["mask"], torch.tensor([[True, False], [True, True]]))
    assert torch.equal(tensors["half"], torch.tensor([1.0, -2.0, float("inf")], dtype=torch.float16))
    assert torch.equal(tensors["brain"], torch.tensor([1.0, 3.0], dtype=torch.bfloat16))
    assert tensors["scalar"].shape == () and tensors["scalar"].item() == -2.5
    assert tensors["empty"].shape == (0, 5)
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == {"producer": "genie"}


DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.int16, torch.int32,
          torch.int64, torch.uint8, torch.bool, torch.uint16, torch.uint32, torch.uint64, torch.complex64,
          torch.float8_e4m3fn, torch.float8_e5m2]


def test_genie_reads_python_files(safetensors_tool, tmp_path):
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for i, dtype in enumerate(DTYPES):
        base = torch.randn(3, i % 3 + 1, generator=gen) * 50
        tensors[f"t.{i}.{str(dtype).split('.')[-1]}"] = base.to(dtype)
    tensors["zero_dim"] = torch.tensor(3.5)
    tensors["zero_size"] = torch.empty(0, 7)
    path = tmp_path / "python.safetensors"
    save_file(tensors, path, metadata={"source": "python"})
    dumped = json.loads(subprocess.run([safetensors_tool, "dump", path], check=True, capture_output=True).stdout)
    assert dumped.pop("__metadata__") == {"source": "python"}
    assert set(dumped) == set(tensors)
    for name, t in tensors.items():
        got = dumped[name]
        assert got["dtype"] == str(t.dtype).split(".")[-1], name
        assert got["shape"] == list(t.shape), name
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        assert bytes.fromhex(got["hex"]) == raw, name


def test_genie_refuses_a_corrupt_python_file(safetensors_tool, tmp_path):
    path = tmp_path / "cut.safetensors"
    save_file({"w": torch.ones(100)}, path)
    path.write_bytes(path.read_bytes()[:-10])
    result = subprocess.run([safetensors_tool, "dump", path], capture_output=True, text=True)
    assert result.returncode == 1
    assert "not a valid safetensors file: the tensors cover 400 bytes of data, but the file holds 390" in result.stderr
