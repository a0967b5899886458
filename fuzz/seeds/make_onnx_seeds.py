#!/usr/bin/env python3
"""Writes the onnx_graph seed corpus (no ONNX library needed: protobuf by hand).

    python3 fuzz/seeds/make_onnx_seeds.py [PLATEDET_ONNX]

Each seed is one selector byte (which canvas pair the target uses, see
fuzz_targets/onnx_graph.rs) followed by an ONNX ModelProto:

- tiny-seg-head-64: a hand-made YOLOv8-seg-shaped head for a 64x64 canvas (84 anchors): a
  3-input Concat head, a mask-prototype output, anchor points (float32 raw_data), strides
  (float16 raw_data) and a reshape shape (int64 raw_data). Selector 0: 64x64 -> 64x32, which
  yolov8_boxes accepts and rewrites.
- tiny-seg-head-64-packed: the same with float_data / int64_data instead of raw_data.
- platedet-stripped (only with PLATEDET_ONNX, e.g. ~/.cache/passwatch/models/platedet.onnx):
  the real detector's graph, every initializer's data emptied and every tensor name
  shortened (t0, t1, ...; images, output0 and output1 kept) so it stays small. Selector 2:
  640x640 -> 640x384 (refused: the anchor tables are empty, but every node is walked); and
  platedet-stripped-same-canvas, the same with selector 3: 640x640 -> 640x640, which is
  accepted (the mask branch is cut, nothing refitted).
"""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "onnx_graph")


def varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def packed(num, values):
    return f_bytes(num, b"".join(varint(v) for v in values))


def dim(v):
    return f_bytes(1, f_varint(1, v) if isinstance(v, int) else f_bytes(2, v))


def value_info(name, elem_type, dims):
    shape = b"".join(dim(d) for d in dims)
    tensor = f_varint(1, elem_type) + f_bytes(2, shape)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tensor))


def node(op, inputs, outputs, name, attrs=b""):
    b = b"".join(f_bytes(1, i) for i in inputs)
    b += b"".join(f_bytes(2, o) for o in outputs)
    return b + f_bytes(3, name) + f_bytes(4, op) + attrs


def attr_int(name, v):
    return f_bytes(5, f_bytes(1, name) + f_varint(3, v) + f_varint(20, 2))


def tensor(name, dtype, dims, raw=None, float_data=None, int64_data=None):
    b = packed(1, dims) + f_varint(2, dtype) + f_bytes(8, name)
    if float_data is not None:
        b += f_bytes(4, b"".join(struct.pack("<f", v) for v in float_data))
    if int64_data is not None:
        b += packed(7, int64_data)
    if raw is not None:
        b += f_bytes(9, raw)
    return b


def anchors(w, h):
    xs, ys, st = [], [], []
    for s in (8, 16, 32):
        for row in range(h // s):
            for col in range(w // s):
                xs.append(col + 0.5)
                ys.append(row + 0.5)
                st.append(float(s))
    return xs + ys, st


def model(graph):
    opset = f_bytes(1, "") + f_varint(2, 17)
    return f_varint(1, 8) + f_bytes(2, "passwatch-fuzz") + f_bytes(8, opset) + f_bytes(7, graph)


def tiny_head(packed_data):
    w, h = 64, 64
    points, strides = anchors(w, h)
    a = len(strides)  # 84
    f32 = lambda vs: b"".join(struct.pack("<f", v) for v in vs)
    f16 = lambda vs: b"".join(struct.pack("<e", v) for v in vs)
    i64 = lambda vs: b"".join(struct.pack("<q", v) for v in vs)
    if packed_data:
        inits = [
            tensor("w0", 1, [8, 3, 1, 1], float_data=[0.1] * 24),
            tensor("shape0", 7, [3], int64_data=[1, 4, a]),
            tensor("anchors", 1, [2, a], float_data=points),
            tensor("strides", 1, [1, a], float_data=strides),
        ]
    else:
        inits = [
            tensor("w0", 1, [8, 3, 1, 1], raw=f32([0.1] * 24)),
            tensor("shape0", 7, [3], raw=i64([1, 4, a])),
            tensor("anchors", 1, [2, a], raw=f32(points)),
            tensor("strides", 10, [1, a], raw=f16(strides)),
        ]
    inits += [
        tensor("wm", 1, [2, 8, 1, 1], raw=f32([0.0] * 16)),
        tensor("wp", 1, [2, 8, 1, 1], raw=f32([0.0] * 16)),
    ]
    nodes = [
        node("Conv", ["images", "w0"], ["feat"], "conv0"),
        node("Reshape", ["feat", "shape0"], ["box_raw"], "reshape0"),
        node("Mul", ["box_raw", "anchors"], ["box"], "mul0"),
        node("Mul", ["box", "strides"], ["dbox"], "mul1"),
        node("Sigmoid", ["box_raw"], ["cls"], "sigmoid0"),
        node("Conv", ["feat", "wm"], ["mc"], "conv_mc"),
        node("Concat", ["dbox", "cls", "mc"], ["output0"], "concat_head", attr_int("axis", 1)),
        node("Conv", ["feat", "wp"], ["output1"], "conv_proto"),
    ]
    g = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, "tiny-seg-head")
    g += b"".join(f_bytes(5, t) for t in inits)
    g += f_bytes(11, value_info("images", 1, [1, 3, h, w]))
    g += f_bytes(12, value_info("output0", 1, [1, 10, a]))
    g += f_bytes(12, value_info("output1", 1, [1, 2, h // 4, w // 4]))
    g += f_bytes(13, value_info("feat", 1, [1, 8, h, w]))
    return model(g)


def parse(buf):
    pos, fields = 0, []
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_varint(buf, pos)
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            v, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wt}")
        fields.append((num, wt, v))
    return fields


def read_varint(buf, pos):
    v, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def encode(fields):
    out = b""
    for num, wt, v in fields:
        out += varint((num << 3) | wt)
        if wt == 0:
            out += varint(v)
        elif wt == 2:
            out += varint(len(v)) + v
        else:
            out += v
    return out


def stripped(path):
    """The real graph, small: initializer data dropped, names shortened consistently."""
    keep = {b"images", b"output0", b"output1"}
    names = {}

    def short(name):
        if name in keep:
            return name
        return names.setdefault(name, b"t%d" % len(names))

    def value_info_short(v):
        return encode([(n, w, short(x) if n == 1 else x) for n, w, x in parse(v)])

    top = parse(open(path, "rb").read())
    new_top = []
    for num, wt, v in top:
        if num == 7:
            graph = []
            for gn, gw, gv in parse(v):
                if gn == 5:  # initializer: keep dims, type and name; drop the data
                    gv = encode([(n, w, short(x) if n == 8 else x)
                                 for n, w, x in parse(gv) if n in (1, 2, 8)])
                elif gn in (10, 13):  # doc_string, value_info
                    continue
                elif gn == 1:  # node: inputs and outputs renamed; name and doc_string dropped
                    gv = encode([(n, w, short(x) if n in (1, 2) else x)
                                 for n, w, x in parse(gv) if n not in (3, 6)])
                elif gn in (11, 12):
                    gv = value_info_short(gv)
                graph.append((gn, gw, gv))
            v = encode(graph)
        elif num in (6, 14):  # doc_string, metadata_props
            continue
        new_top.append((num, wt, v))
    return encode(new_top)


def write(name, selector, data):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(bytes([selector]) + data)
    print(f"{path}: {len(data) + 1} bytes")


if __name__ == "__main__":
    write("tiny-seg-head-64", 0, tiny_head(False))
    write("tiny-seg-head-64-packed", 0, tiny_head(True))
    if len(sys.argv) > 1:
        graph = stripped(sys.argv[1])
        write("platedet-stripped", 2, graph)
        write("platedet-stripped-same-canvas", 3, graph)
