"""Makes .pt2 archives genie-capture must refuse, each with one thing wrong, for
tests/tools/genie_capture_test.sh:

    python tests/capture/make_bad_archives.py MODELS_DIR OUT_DIR

MODELS_DIR holds bert.pt2 (testdata/models/make_models.py). Writes to OUT_DIR:
  schema99.pt2      bert with its program's schema_version major set to 99
  custom_op.pt2     a program calling a custom operator (genie_test::scale), outside ATen
  cond.pt2          a program with control flow (torch.cond, a higher-order operator)
  aoti_only.pt2     an archive laid out as AOTInductor packages are (data/aotinductor/ only)
  no_weight.pt2     bert with one weight record missing
  truncated.pt2     the first half of bert.pt2
"""
import json
import os
import sys
import warnings
import zipfile

import torch

warnings.filterwarnings("ignore")


def rewrite(source, dest, change):
    """Copies a zip archive entry by entry; change(name, data) returns new data or None to drop."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = change(info.filename, src.read(info.filename))
            if data is not None:
                out.writestr(info.filename, data)


def main() -> int:
    models, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    bert = os.path.join(models, "bert.pt2")

    def schema99(name, data):
        if name.endswith("models/model.json"):
            program = json.loads(data)
            program["schema_version"]["major"] = 99
            return json.dumps(program).encode()
        return data

    rewrite(bert, os.path.join(out, "schema99.pt2"), schema99)
    rewrite(bert, os.path.join(out, "no_weight.pt2"), lambda n, d: None if n.endswith("data/weights/weight_3") else d)
    with open(bert, "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "truncated.pt2"), "wb") as f:
        f.write(whole[: len(whole) // 2])

    @torch.library.custom_op("genie_test::scale", mutates_args=())
    def scale(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @scale.register_fake
    def _(x):
        return torch.empty_like(x)

    class Custom(torch.nn.Module):
        def forward(self, x):
            return torch.ops.genie_test.scale(x).relu()

    torch.export.save(torch.export.export(Custom(), (torch.randn(2, 3),)), os.path.join(out, "custom_op.pt2"))

    class Branchy(torch.nn.Module):
        def forward(self, x):
            return torch.cond(x.sum() > 0, lambda x: x.relu(), lambda x: x.neg(), (x,))

    torch.export.save(torch.export.export(Branchy(), (torch.randn(2, 3),)), os.path.join(out, "cond.pt2"))

    # The layout torch._inductor.aoti_compile_and_package writes (compiling one takes ~30 s;
    # the reader only looks at which records exist).
    with zipfile.ZipFile(os.path.join(out, "aoti_only.pt2"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("aoti_only/archive_format", "pt2")
        z.writestr("aoti_only/archive_version", "0")
        z.writestr("aoti_only/.data/version", "6\n")
        z.writestr("aoti_only/byteorder", "little")
        z.writestr("aoti_only/data/aotinductor/model/c5x.wrapper.cpp", "// generated")
        z.writestr("aoti_only/data/aotinductor/model/c5x.wrapper.so", b"\x7fELF" + bytes(60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
