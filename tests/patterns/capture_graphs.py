"""Captures the real test models (testdata/models/make_models.py, listed in MODELS_DIR's
manifest.json) into graphs for the pattern tests: OUT_DIR/NAME.VARIANT.json for every
traced and scripted file of every model. Graphs are made here, in the build tree, never
committed.

    python tests/patterns/capture_graphs.py GENIE_CAPTURE MODELS_DIR OUT_DIR
"""
import json
import os
import subprocess
import sys
import tempfile


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    capture, models, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(models, "manifest.json")) as f:
        manifest = json.load(f)
    failures = 0
    weights = tempfile.mkdtemp(prefix="genie-weights-")  # the tests need no weights: not kept
    for name in sorted(manifest):
        entry = manifest[name]
        for variant, file in sorted(entry["files"].items()):
            graph = os.path.join(out, f"{name}.{variant}.json")
            command = [capture, os.path.join(models, file), "-o", graph,
                       "--weights", os.path.join(weights, "w.safetensors")]
            for spec in entry["inputs"]:
                command += ["--input", spec]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                failures += 1
                print(f"FAIL: {' '.join(command)} -> exit {result.returncode}: {result.stderr.strip()}")
            else:
                print(f"{name}.{variant}: {result.stderr.strip()}")
            if os.path.exists(os.path.join(weights, "w.safetensors")):
                os.remove(os.path.join(weights, "w.safetensors"))
    os.rmdir(weights)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
