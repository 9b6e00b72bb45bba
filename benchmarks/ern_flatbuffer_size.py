"""Where the bytes of a w1a2 LCE flatbuffer go, next to the model's packed size (ERN issue item 7).

    python benchmarks/ern_flatbuffer_size.py runs/ern18_cifar10_cpu/model.a.tflite runs/ern18_cifar10_cpu/model.keras

Groups every constant buffer by the op input that reads it (LceBconv2d filter / post-multiplier /
post-bias, MUL, ADD, ...), reports the flatbuffer's non-constant part (operator and tensor tables,
tensor names, shapes, alignment) and, as a what-if, the size after re-serialising with the tensor
names of intermediate tensors blanked (names are debugging strings; inputs/outputs keep theirs).
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flatbuffers  # noqa: E402

from tfqnn.keras import keras  # noqa: E402,F401
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402

BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _op_name(code) -> str:
    if code.customCode:
        return code.customCode.decode()
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    return BUILTIN_NAMES.get(builtin, f"builtin{builtin}")


def _pack(model) -> int:
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return len(builder.Output())


def breakdown(data: bytes) -> list[str]:
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    sub = model.subgraphs[0]
    sizes = [len(b.data) if b.data is not None else 0 for b in model.buffers]
    names = [_op_name(c) for c in model.operatorCodes]
    readers: dict[int, set[str]] = collections.defaultdict(set)
    for op in sub.operators:
        for slot, tensor in enumerate(op.inputs):
            if tensor >= 0:
                readers[tensor].add(f"{names[op.opcodeIndex]} input {slot}")
    groups: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    seen_buffers: set[int] = set()
    for index, tensor in enumerate(sub.tensors):
        if sizes[tensor.buffer] == 0 or tensor.buffer in seen_buffers:
            continue
        seen_buffers.add(tensor.buffer)
        key = " + ".join(sorted(readers[index])) or "unread"
        groups[key] += sizes[tensor.buffer]
        counts[key] += 1
    constant = sum(sizes)
    name_bytes = sum(len(t.name or b"") for t in sub.tensors)
    lines = [f"flatbuffer: {len(data):,} B = constants {constant:,} B + tables/names/shapes/alignment "
             f"{len(data) - constant:,} B ({len(sub.operators)} ops, {len(sub.tensors)} tensors, "
             f"tensor names {name_bytes:,} B)",
             "constants by reader:"]
    lines += [f"  {size:>10,} B in {counts[key]:>3} buffers: {key}" for key, size in groups.most_common()]
    keep = set(sub.inputs) | set(sub.outputs)
    for i, tensor in enumerate(sub.tensors):
        if i not in keep:
            tensor.name = b""
    lines.append(f"what-if, intermediate tensor names blanked and re-serialised: {_pack(model):,} B")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tflite")
    parser.add_argument("keras_model", nargs="?", help="the model the flatbuffer came from (for its packed size)")
    args = parser.parse_args(argv)
    data = Path(args.tflite).read_bytes()
    print(f"command: python benchmarks/ern_flatbuffer_size.py {args.tflite} {args.keras_model or ''}".rstrip())
    lines = breakdown(data)
    if args.keras_model:
        import tfqnn
        from tfqnn.metrics import packed_size

        size = packed_size(tfqnn.load_model(args.keras_model))
        lines.insert(0, f"packed size: {size.total_bytes:,} B = 1-bit kernels {size.weight_bytes:,} B + float "
                        f"{size.total_bytes - size.weight_bytes:,} B; flatbuffer / packed = "
                        f"{len(data) / size.total_bytes:.4f}; 5 % goal = {int(size.total_bytes * 1.05):,} B")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
