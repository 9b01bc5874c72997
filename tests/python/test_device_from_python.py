"""The remote_accelerator device as a Python user of the same torch reaches it: load the
library, create tensors on the device, compute, materialise, and read the graph."""
import json
import os

import pytest
import torch

LIBRARY = os.environ.get("GENIE_CAPTURE_LIBRARY")
pytestmark = pytest.mark.skipif(not LIBRARY, reason="built without LibTorch (GENIE_WITH_TORCH=OFF)")


@pytest.fixture(scope="module", autouse=True)
def device_loaded():
    torch.ops.load_library(LIBRARY)


@pytest.fixture(autouse=True)
def fresh_graph():
    torch.ops.genie.new_graph()


def graph():
    return json.loads(torch.ops.genie.graph_json())


def test_randn_on_the_device():
    x = torch.randn(2, 2, device="remote_accelerator")
    assert x.device == torch.device("remote_accelerator:0")
    assert x.shape == (2, 2) and x.dtype == torch.float32
    assert [n["op"] for n in graph()["nodes"]] == ["aten::randn"]
    assert x.cpu().shape == (2, 2)


def test_compute_and_materialise_equals_eager():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    la, lb = a.to("remote_accelerator"), b.to("remote_accelerator")
    c = torch.nn.functional.gelu(la @ lb) + 1
    assert c.device.type == "remote_accelerator" and c.shape == (3, 5)
    torch.testing.assert_close(c.cpu(), torch.nn.functional.gelu(a @ b) + 1)
    ops = [n["op"] for n in graph()["nodes"]]
    assert "aten::mm" in ops and "aten::gelu" in ops, ops


def test_in_place_and_views():
    a = torch.randn(4, 6)
    x = a.clone().to("remote_accelerator")
    x[:, :3] += 1
    x.t()[0].mul_(2)
    expected = a.clone()
    expected[:, :3] += 1
    expected.t()[0].mul_(2)
    torch.testing.assert_close(x.cpu(), expected)


def test_item_and_data_dependent_branch():
    x = torch.tensor([1.0, -5.0]).to("remote_accelerator")
    y = x.relu() if x.sum().item() > 0 else x.abs()
    torch.testing.assert_close(y.cpu(), torch.tensor([1.0, 5.0]))
    g = graph()
    assert g["annotations"]["materialized"][0]["op"] == "aten::_local_scalar_dense"


def test_a_module_runs_on_the_device():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        expected = model(x)
        lazy_model = model.to("remote_accelerator")
        out = lazy_model(x.to("remote_accelerator"))
    torch.testing.assert_close(out.cpu(), expected)
    ops = [n["op"] for n in graph()["nodes"]]
    assert ops.count("aten::addmm") == 2 or ops.count("aten::linear") == 2, ops
