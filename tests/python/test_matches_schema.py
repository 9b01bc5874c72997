"""schemas/matches.schema.json and schemas/patterns.schema.json, checked with a real
validator: every matches file the tests wrote, every match annotated into a graph, every
pattern file (built-in and written by tests); and broken pattern files that the schema and
genie-patterns both refuse."""
import copy
import json
import os
import subprocess

import jsonschema
import pytest


def _validator(source_dir, name):
    schema = json.loads((source_dir / "schemas" / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def matches_validator(source_dir):
    return _validator(source_dir, "matches.schema.json")


@pytest.fixture(scope="module")
def patterns_validator(source_dir):
    return _validator(source_dir, "patterns.schema.json")


def _files_of_format(directory, fmt, pattern="*.json"):
    out = []
    for f in sorted(directory.glob(pattern)):
        try:
            doc = json.loads(f.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and doc.get("format") == fmt:
            out.append((f, doc))
    return out


def _first_error(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=str)
    return f"{errors[0].json_path}: {errors[0].message}" if errors else None


def _check_match(m, where):
    assert m["nodes"] == sorted(m["nodes"]), f"{where}: nodes not sorted"
    assert m["anchor"] in m["nodes"], f"{where}: anchor {m['anchor']} not among the nodes"
    for role, ids in m["roles"].items():
        assert set(ids) <= set(m["nodes"]), f"{where}: role {role} has nodes outside the match"


def test_every_matches_file_validates(matches_validator, test_out):
    files = _files_of_format(test_out, "genie.matches")
    names = {f.name for f, _ in files}
    # Written by genie_patterns_tests and tools.genie_patterns (ctest fixture order).
    assert {"synthetic_transformer.matches.json", "resnet_like.matches.json", "empty.matches.json",
            "tiny_mlp.matches.json"} <= names, names
    for f, doc in files:
        error = _first_error(matches_validator, doc)
        assert error is None, f"{f}: {error}"
        counts = {p["name"]: p["matches"] for p in doc["patterns"]}
        found = {}
        for i, m in enumerate(doc["matches"]):
            assert m["pattern"] in counts, f"{f}: /matches/{i}: pattern {m['pattern']} is not listed in /patterns"
            found[m["pattern"]] = found.get(m["pattern"], 0) + 1
            _check_match(m, f"{f}: /matches/{i}")
        assert {k: v for k, v in counts.items() if v} == found, f"{f}: counts in /patterns disagree with /matches"


def test_real_model_matches_were_written_when_torch_is_built(test_out):
    if not os.environ.get("GENIE_CAPTURE_LIBRARY"):
        pytest.skip("built without LibTorch: no real-model graphs")
    names = {f.name for f, _ in _files_of_format(test_out, "genie.matches")}
    for model in ("resnet18", "mobilenet_v2", "transformer_encoder", "bert"):
        assert f"{model}.traced.matches.json" in names, names


def test_annotated_graphs_carry_valid_matches(matches_validator, test_out):
    match_validator = jsonschema.Draft202012Validator(
        {**matches_validator.schema["$defs"]["match"], "$defs": matches_validator.schema["$defs"]})
    annotated = [(f, g) for f, g in _files_of_format(test_out, "genie.graph")
                 if "matches" in (g.get("annotations") or {})]
    assert {"tiny_mlp.annotated.json", "synthetic_transformer.annotated.json"} <= {f.name for f, _ in annotated}
    for f, g in annotated:
        matches = g["annotations"]["matches"]
        for i, m in enumerate(matches):
            error = _first_error(match_validator, m)
            assert error is None, f"{f}: /annotations/matches/{i}: {error}"
            _check_match(m, f"{f}: /annotations/matches/{i}")
        # Each node lists exactly the matches that hold it, with its role there.
        for node in g["nodes"]:
            for entry in (node.get("annotations") or {}).get("matches", []):
                m = matches[entry["match"]]
                assert entry["pattern"] == m["pattern"] and node["id"] in m["nodes"], f"{f}: node {node['id']}"
                if "role" in entry:
                    assert node["id"] in m["roles"][entry["role"]], f"{f}: node {node['id']}"
        held = sum(len(m["nodes"]) for m in matches)
        listed = sum(len((n.get("annotations") or {}).get("matches", [])) for n in g["nodes"])
        assert held == listed, f"{f}: {held} node memberships in the matches, {listed} on the nodes"


def test_every_pattern_file_validates(patterns_validator, source_dir, test_out):
    builtin = _files_of_format(source_dir / "patterns", "genie.patterns")
    assert len(builtin) >= 6, [f.name for f, _ in builtin]
    written = _files_of_format(test_out, "genie.patterns")
    assert "relu_after_linear.patterns.json" in {f.name for f, _ in written}
    for f, doc in builtin + written:
        error = _first_error(patterns_validator, doc)
        assert error is None, f"{f}: {error}"


def _pattern_mutations():
    def drop_description(d): del d["patterns"][0]["description"]
    def bad_op_name(d): d["patterns"][0]["nodes"]["conv"]["op"] = "conv2d"
    def node_key_typo(d): d["patterns"][0]["nodes"]["conv"]["single-use"] = True
    def repeat_without_max(d): d["patterns"][0]["nodes"]["conv"]["repeat"] = {"min": 0}
    def bad_ref(d): d["patterns"][0]["nodes"]["bn"]["inputs"]["0"] = "conv:x"
    def future_major(d): d["version"]["major"] = 2
    def zero_confidence(d): d["patterns"][0]["confidence"] = 0
    def optional_and_repeat(d): d["patterns"][0]["nodes"]["conv"].update(optional=True, repeat={"max": 2})
    def upper_case_name(d): d["patterns"][0]["name"] = "ConvBN"
    def negative_arg(d): d["patterns"][0]["nodes"]["bn"]["inputs"] = {"-1": "conv"}
    def follow_without_through(d): d["patterns"][0]["nodes"]["bn"]["inputs"]["0"] = {"from": "conv", "follow": "any"}
    def empty_op_set(d): d["op_sets"]["conv"] = []
    def nodes_and_variants(d): d["patterns"][0]["variants"] = [{"name": "v", "nodes": {"a": {"op": "*"}}}]
    return [drop_description, bad_op_name, node_key_typo, repeat_without_max, bad_ref, future_major, zero_confidence,
            optional_and_repeat, upper_case_name, negative_arg, follow_without_through, empty_op_set,
            nodes_and_variants]


@pytest.mark.parametrize("mutate", _pattern_mutations(), ids=lambda f: f.__name__)
def test_schema_and_reader_refuse_the_same_broken_pattern_files(mutate, patterns_validator, source_dir, tmp_path):
    tool = os.environ.get("GENIE_PATTERNS_TOOL")
    if not tool:
        pytest.skip("GENIE_PATTERNS_TOOL is not set")
    doc = json.loads((source_dir / "patterns" / "conv.json").read_text())
    assert not list(patterns_validator.iter_errors(doc))
    broken = copy.deepcopy(doc)
    mutate(broken)
    assert list(patterns_validator.iter_errors(broken)), "the schema accepted a broken pattern file"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = subprocess.run([tool, "--list", "--patterns", path], capture_output=True, text=True)
    assert result.returncode in (1, 4), result
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr, result.stderr
