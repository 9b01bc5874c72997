"""schemas/graph.schema.json, checked with a real validator against every graph file the
project writes, and against broken graphs that the C++ reader refuses too."""
import copy
import json
import subprocess

import jsonschema
import pytest


@pytest.fixture(scope="module")
def validator(source_dir):
    schema = json.loads((source_dir / "schemas" / "graph.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def written_graphs(test_out, source_dir):
    files = sorted(test_out.glob("*.json")) + sorted((source_dir / "testdata").rglob("*.json"))
    return [f for f in files if json.loads(f.read_text()).get("format") == "genie.graph"]


def test_every_written_graph_validates(validator, test_out, source_dir):
    files = written_graphs(test_out, source_dir)
    names = {f.name for f in files}
    # The C++ tests and the tool test must have written these (ctest fixture order).
    assert {"small_cnn.json", "empty.json", "tiny_mlp.canonical.json", "tiny_mlp.json"} <= names, names
    for f in files:
        errors = sorted(validator.iter_errors(json.loads(f.read_text())), key=str)
        assert not errors, f"{f}: {errors[0].json_path}: {errors[0].message}"


def _mutations():
    def drop_op(g): del g["nodes"][0]["op"]
    def bad_dtype(g): g["values"][0]["dtype"] = "float33"
    def extra_key(g): g["nodes"][0]["scoep"] = "x"
    def two_values(g): g["nodes"][0]["inputs"][0]["int"] = 3
    def negative_dim(g): g["values"][0]["shape"][0] = -1
    def future_major(g): g["version"]["major"] = 2
    def bad_residency(g): g["values"][0]["residency"] = "weight"
    def ref_not_int(g): g["nodes"][0]["inputs"][0]["tensor"] = "0"
    return [drop_op, bad_dtype, extra_key, two_values, negative_dim, future_major, bad_residency, ref_not_int]


@pytest.mark.parametrize("mutate", _mutations(), ids=lambda f: f.__name__)
def test_schema_and_reader_refuse_the_same_broken_graphs(mutate, validator, test_out, graph_tool, tmp_path):
    graph = json.loads((test_out / "small_cnn.json").read_text())
    broken = copy.deepcopy(graph)
    mutate(broken)
    assert list(validator.iter_errors(broken)), "the schema accepted a broken graph"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = subprocess.run([graph_tool, path], capture_output=True, text=True)
    assert result.returncode in (1, 4), result
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr, result.stderr


def test_python_written_graph_reads_in_cpp(source_dir, graph_tool, tmp_path):
    """An outside script can write the format: regenerate the bundled example and check that
    it is byte-identical to the checked-in one and that the C++ reader takes it."""
    import runpy, sys
    script = source_dir / "testdata" / "graphs" / "make_tiny_mlp.py"
    saved = sys.argv
    sys.argv = [str(script), str(tmp_path)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved
    for name in ("tiny_mlp.json", "tiny_mlp.safetensors"):
        assert (tmp_path / name).read_bytes() == (source_dir / "testdata" / "graphs" / name).read_bytes(), name
    result = subprocess.run([graph_tool, tmp_path / "tiny_mlp.json", "--weights", tmp_path / "tiny_mlp.safetensors"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
