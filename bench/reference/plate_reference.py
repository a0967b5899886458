#!/usr/bin/env python3
"""The reference plate pipeline: what a user would write with Python, onnxruntime, numpy and
OpenCV, doing the same work as passwatch's plate path, so that `passwatch bench
--compare-reference` can put the two side by side on the same file, models and thread count.

Per analysed frame (frames chosen on the same media-time grid as passwatch's ingest):

1. platedet (YOLOv8, fp16): the frame letterboxed into 640x640 (centred, grey 114, cv2.resize
   INTER_LINEAR), RGB / 255; boxes with score >= 0.4, NMS at IoU 0.4.
2. For each plate box: the box padded by 15 %, PP-OCRv4 DBNet on it (short side scaled to 128,
   sides multiples of 32, BGR (x/255 - 0.5)/0.5), DBNet post-processing (threshold 0.3, 2x2
   dilation, 8-connected components, minimum-area rectangle of the pixel squares, mean probability
   inside >= 0.5, unclip 1.6), then the two largest lines and the row of lines merged.
3. Every quad (the box and its lines) rectified with a perspective warp (cv2.warpPerspective,
   INTER_LINEAR, BORDER_REPLICATE) to its natural size, turned if tall.
4. PP-OCRv4 recogniser in batches of 8 sorted by aspect ratio (height 48, padded to the widest,
   at least 320), greedy CTC restricted to the regions' plate alphabet.
5. Each read scored by how plate-like it is (confidence, format fit from plate-reader/formats.toml,
   length, state names), with passwatch's variants (runner-up characters at the two least sure
   positions, confusable swaps that fit a format); the most plate-like read per box, boxes
   overlapping a better one dropped.

It writes one JSON object (--out): frames decoded and analysed, the loop's wall time, stage
times, versions, and every frame's reads. Only the standard library, numpy, onnxruntime and
cv2 are used; tomllib reads the formats (Python 3.11+).
"""

import argparse
import json
import math
import platform
import sys
import time
import tomllib
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[2]

# PaddleOCR / passwatch settings (plate-reader/src/{detect,reader,recognise}.rs).
PLATEDET_SIZE = 640
PLATEDET_PAD = 114
PLATEDET_SCORE = 0.4
PLATEDET_NMS = 0.4
LINE_PAD = 0.15
LINE_SIDE = 128
MAX_SIDE = 2048
DB_THRESH = 0.3
DB_BOX_THRESH = 0.5
DB_UNCLIP = 1.6
DB_MIN_SIZE = 3.0
REC_H = 48
REC_MIN_W = 320
REC_MAX_W = 768
REC_BATCH = 8
TALL_RATIO = 1.5
MIN_PLATE_SCORE = 0.3
MIN_LEN = 4
MAX_LEN = 9
MAX_PLATE_LEN = 16
COERCION_PENALTY = 0.05

CONFUSABLE_PAIRS = [("O", "0"), ("I", "1"), ("B", "8"), ("S", "5"), ("Z", "2"), ("D", "0"), ("G", "6")]
CONFUSABLE_COST = 0.25
SEPARATORS = set("-.·_/:•")

NOT_PLATES = """ALABAMA ALASKA ARIZONA ARKANSAS CALIFORNIA COLORADO CONNECTICUT DELAWARE FLORIDA GEORGIA
HAWAII IDAHO ILLINOIS INDIANA IOWA KANSAS KENTUCKY LOUISIANA MAINE MARYLAND MASSACHUSETTS MICHIGAN
MINNESOTA MISSISSIPPI MISSOURI MONTANA NEBRASKA NEVADA NEWHAMPSHIRE NEWJERSEY NEWMEXICO NEWYORK
NORTHCAROLINA NORTHDAKOTA OHIO OKLAHOMA OREGON PENNSYLVANIA RHODEISLAND SOUTHCAROLINA SOUTHDAKOTA
TENNESSEE TEXAS UTAH VERMONT VIRGINIA WASHINGTON WESTVIRGINIA WISCONSIN WYOMING USA AMERICA MERCOSUR
BRASIL BRAZIL ARGENTINA REPUBLICAARGENTINA""".split()

SIMPLIFICATIONS = [
    "frames are decoded by OpenCV's FFmpeg (BGR from swscale) on the calling thread, not by "
    "GStreamer on a decode thread of their own",
    "resizing goes through 8-bit images (cv2.resize, fixed-point weights) before normalising; "
    "passwatch resamples straight into the float tensor",
    "no tracking, consensus or registry decisions (passwatch's share of those is shown apart)",
]


# ------------------------------------------------------------------------------------------
# Plate text: normalisation, confusable-aware distance, formats


def normalise_plate(text):
    return "".join(c for c in text if not c.isspace() and c not in SEPARATORS).upper()


def sub_cost(a, b):
    if a == b:
        return 0.0
    for x, y in CONFUSABLE_PAIRS:
        if (a == x and b == y) or (a == y and b == x):
            return CONFUSABLE_COST
    return 1.0


def plate_distance_bounded(a, b, max_cost):
    if abs(len(a) - len(b)) > max_cost:
        return None
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a):
        cur = [float(i + 1)] + [0.0] * len(b)
        for j, cb in enumerate(b):
            cur[j + 1] = min(prev[j] + sub_cost(ca, cb), prev[j + 1] + 1.0, cur[j] + 1.0)
        if min(cur) > max_cost:
            return None
        prev = cur
    d = prev[len(b)]
    return d if d <= max_cost else None


def is_plate_word(text):
    return any(
        plate_distance_bounded(text, w, 1.0 if len(w) >= 6 else 0.5) is not None for w in NOT_PLATES
    )


class Pattern:
    def __init__(self, source, weight, letters, digits, prefixes):
        self.weight = weight
        self.tokens = []  # (set of chars, min, max)
        i = 0
        while i < len(source):
            c = source[i]
            i += 1
            if c.isspace():
                continue
            if c == "L":
                s = set(letters)
            elif c == "N":
                s = set(digits)
            elif c == "A":
                s = set(letters) | set(digits)
            elif c == "P":
                s = set(prefixes)
            elif c == "[":
                j = source.index("]", i)
                s = set(source[i:j])
                i = j + 1
            else:
                raise ValueError(f"pattern {source!r}: unexpected {c!r}")
            lo = hi = 1
            if i < len(source) and source[i] == "{":
                j = source.index("}", i)
                body = source[i + 1 : j]
                i = j + 1
                if "," in body:
                    a, b = body.split(",")
                    lo, hi = int(a), int(b)
                else:
                    lo = hi = int(body)
            self.tokens.append((s, lo, hi))
        self.min_len = sum(t[1] for t in self.tokens)
        self.max_len = sum(t[2] for t in self.tokens)

    def matches(self, chars):
        n = len(chars)
        if n < self.min_len or n > self.max_len:
            return False
        reach = {0}
        for s, lo, hi in self.tokens:
            nxt = set()
            for p in reach:
                c = 0
                while True:
                    if c >= lo:
                        nxt.add(p + c)
                    if c == hi or p + c == n or chars[p + c] not in s:
                        break
                    c += 1
            reach = nxt
            if not reach:
                return False
        return n in reach

    def coerce(self, chars):
        """Fewest confusable swaps that make `chars` fit, and the result (passwatch's DP)."""
        inf = 255
        n = len(chars)
        if n < self.min_len or n > self.max_len:
            return None
        cost = [[inf] * (n + 1) for _ in range(len(self.tokens) + 1)]
        frm = [[0] * (n + 1) for _ in range(len(self.tokens) + 1)]
        cost[0][0] = 0
        for t, (s, lo, hi) in enumerate(self.tokens):
            for p in range(n + 1):
                base = cost[t][p]
                if base == inf:
                    continue
                acc = base
                c = 0
                while True:
                    if c >= lo and acc < cost[t + 1][p + c]:
                        cost[t + 1][p + c] = acc
                        frm[t + 1][p + c] = p
                    if c == hi or p + c == n:
                        break
                    ch = chars[p + c]
                    if ch not in s:
                        if partner_in(ch, s) is None:
                            break
                        acc = min(acc + 1, inf)
                    c += 1
        total = cost[len(self.tokens)][n]
        if total == inf:
            return None
        out = list(chars)
        end = n
        for t in range(len(self.tokens), 0, -1):
            start = frm[t][end]
            s = self.tokens[t - 1][0]
            for k in range(start, end):
                if out[k] not in s:
                    p = partner_in(out[k], s)
                    if p is not None:
                        out[k] = p
            end = start
        return total, "".join(out)


def partner_in(c, s):
    for a, b in CONFUSABLE_PAIRS:
        if c == a:
            p = b
        elif c == b:
            p = a
        else:
            continue
        if p in s:
            return p
    return None


class Formats:
    def __init__(self, path, region_ids):
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        self.regions = []  # (id, alphabet, patterns), in file order
        for r in doc["region"]:
            letters = r.get("letters", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            digits = r.get("digits", "0123456789")
            prefixes = r.get("prefixes", "")
            pats = [Pattern(p["pattern"], float(p["weight"]), letters, digits, prefixes) for p in r["patterns"]]
            alphabet = set(letters) | set(digits) | set(prefixes)
            for p in pats:
                for s, _, _ in p.tokens:
                    alphabet |= s
            self.regions.append((r["id"], alphabet, pats))
        self.wanted = [r for r in region_ids if any(r == x[0] for x in self.regions)]

    def region(self, rid):
        return next(r for r in self.regions if r[0] == rid)

    def alphabet(self):
        out = set()
        for rid in self.wanted:
            out |= self.region(rid)[1]
        return sorted(out)

    def best_region(self, text):
        if len(text) > MAX_PLATE_LEN:
            return None, 0.0
        best = (None, 0.0)
        for rid in self.wanted:
            s = max((p.weight for p in self.region(rid)[2] if p.matches(text)), default=0.0)
            if s > 0.0 and (best[0] is None or s > best[1]):
                best = (rid, s)
        return best

    def coerce(self, rid, text):
        if len(text) > MAX_PLATE_LEN:
            return None
        best = None  # (changes, weight, text)
        for p in self.region(rid)[2]:
            if best is not None and best[0] == 0 and p.weight <= best[1]:
                continue
            r = p.coerce(text)
            if r is None:
                continue
            changes, fitted = r
            if best is None or changes < best[0] or (changes == best[0] and p.weight > best[1]):
                best = (changes, p.weight, fitted)
        return best


def plate_score(text, confidence, format_score):
    n = len(text)
    if n < MIN_LEN or n > MAX_LEN or is_plate_word(text):
        return 0.0
    confidence *= 0.85 if n <= 4 else 1.0
    if format_score > 0.0:
        return confidence * (0.5 + 0.5 * format_score)
    if any(c.isdigit() for c in text):
        return confidence * 0.35
    return 0.0


def best_variant(read, formats):
    """(text, plate score) of the most plate-like spelling of a CTC read."""
    text_raw, chars, confidence = read

    def score(text, conf):
        _, fs = formats.best_region(text)
        return text, fs, plate_score(text, conf, fs)

    text = normalise_plate(text_raw)
    best = score(text, confidence)
    if best[1] >= 1.0 or not chars:
        return best[0], best[2]
    n = float(len(chars))
    positions = [i for i in range(len(chars)) if chars[i][2] is not None]
    positions.sort(key=lambda i: chars[i][1])
    positions = positions[:2]
    subsets = [[positions[0]]] if len(positions) == 1 else (
        [[positions[0]], [positions[1]], positions] if len(positions) == 2 else [])
    for subset in subsets:
        cs = [c[0] for c in chars]
        conf_sum = sum(c[1] for c in chars)
        for i in subset:
            ch, p = chars[i][2]
            cs[i] = ch
            conf_sum += p - chars[i][1]
        v = score(normalise_plate("".join(cs)), conf_sum / n)
        if v[2] > best[2]:
            best = v
    for rid in formats.wanted:
        c = formats.coerce(rid, text)
        if c is not None and c[0] > 0:
            v = score(c[2], confidence * (1.0 - COERCION_PENALTY * c[0]))
            if v[2] > best[2]:
                best = v
    return best[0], best[2]


# ------------------------------------------------------------------------------------------
# Geometry (the conventions of plate-reader/src/geometry.rs: continuous pixel coordinates,
# pixel (i, j) covers [i, i+1] x [j, j+1])


def rect_corners(rect):
    """TL, TR, BR, BL of a cv2 rotated rect ((cx, cy), (w, h), deg), width side nearest horizontal."""
    (cx, cy), (w, h), deg = rect
    a = math.radians(deg) % math.pi
    if a > math.pi / 2:
        a -= math.pi
    if a > math.pi / 4:
        a -= math.pi / 2
        w, h = h, w
    elif a <= -math.pi / 4:
        a += math.pi / 2
        w, h = h, w
    s, c = math.sin(a), math.cos(a)
    ux, uy = c * w / 2, s * w / 2
    vx, vy = -s * h / 2, c * h / 2
    return np.array(
        [[cx - ux - vx, cy - uy - vy], [cx + ux - vx, cy + uy - vy],
         [cx + ux + vx, cy + uy + vy], [cx - ux + vx, cy - uy + vy]], dtype=np.float64)


def quad_w(q):
    return 0.5 * (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3]))


def quad_h(q):
    return 0.5 * (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1]))


def quad_area(q):
    x, y = q[:, 0], q[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def mean_inside(pmap, q):
    """Mean of the map over pixels whose centres lie inside the convex quad."""
    h, w = pmap.shape
    y0 = max(0, math.ceil(q[:, 1].min() - 0.5))
    y1 = min(h - 1, math.floor(q[:, 1].max() - 0.5))
    total, count = 0.0, 0
    for y in range(y0, y1 + 1):
        cy = y + 0.5
        xl, xr = math.inf, -math.inf
        for i in range(4):
            a, b = q[i], q[(i + 1) % 4]
            lo, hi = (a, b) if a[1] <= b[1] else (b, a)
            if cy < lo[1] or cy > hi[1]:
                continue
            if hi[1] == lo[1]:
                xl, xr = min(xl, lo[0], hi[0]), max(xr, lo[0], hi[0])
            else:
                x = lo[0] + (cy - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1])
                xl, xr = min(xl, x), max(xr, x)
        if xr < xl:
            continue
        c0 = max(0, math.ceil(xl - 0.5))
        c1 = min(w - 1, math.floor(xr - 0.5))
        if c1 >= c0:
            total += float(pmap[y, c0 : c1 + 1].sum(dtype=np.float64))
            count += c1 - c0 + 1
    if count:
        return total / count
    c = q.mean(axis=0)
    if c[0] < 0 or c[1] < 0 or c[0] >= w or c[1] >= h:
        return 0.0
    return float(pmap[int(c[1]), int(c[0])])


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0) if x1 > x0 and y1 > y0 else 0.0
    union = max(a[2], 0) * max(a[3], 0) + max(b[2], 0) * max(b[3], 0) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes, scores, thr):
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(iou(boxes[k], boxes[i]) <= thr for k in kept):
            kept.append(i)
    return kept


def box_quad(b):
    x, y, w, h = b
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


# ------------------------------------------------------------------------------------------
# Models


def session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # passwatch's sessions do not spin (several sessions and a decoder share few cores).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def norm_bgr(img_u8):
    """BGR u8 HxWx3 -> CHW float32, (x/255 - 0.5)/0.5."""
    return ((img_u8.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def dbnet_size(w, h, limit):
    short = max(min(w, h), 1)
    ratio = limit / short if short < limit else 1.0
    long = max(w, h) * ratio
    if long > MAX_SIDE:
        ratio *= MAX_SIDE / long
    r32 = lambda v: max(int(round(v / 32.0)), 1) * 32  # noqa: E731
    return r32(w * ratio), r32(h * ratio)


class Reader:
    def __init__(self, args):
        t = args.threads
        self.platedet = session(args.platedet, t)
        self.det = session(args.det, t)
        self.rec = session(args.rec, t)
        self.refine = not args.no_refine
        meta = self.rec.get_modelmeta().custom_metadata_map["character"]
        body = meta[:-1] if meta.endswith("\n") else meta
        self.charset = ["\0"] + [line.rstrip("\r") for line in body.split("\n")] + [" "]
        self.formats = Formats(REPO / "plate-reader" / "formats.toml", args.regions.split(","))
        alphabet = set(self.formats.alphabet())
        first = {}
        for cls, ch in enumerate(self.charset[1:], start=1):
            first.setdefault(ch, cls)
        self.allowed = np.array([c for c in range(1, len(self.charset)) if self.charset[c] in alphabet])
        self.groups = np.array([first[self.charset[c]] for c in self.allowed])
        self.times = {"detect": 0.0, "refine": 0.0, "ocr": 0.0}

    # 1. plate boxes
    def detect(self, frame):
        h, w = frame.shape[:2]
        s = min(PLATEDET_SIZE / w, PLATEDET_SIZE / h)
        nw = min(max(int(round(w * s)), 1), PLATEDET_SIZE)
        nh = min(max(int(round(h * s)), 1), PLATEDET_SIZE)
        px, py = (PLATEDET_SIZE - nw) // 2, (PLATEDET_SIZE - nh) // 2
        canvas = np.full((PLATEDET_SIZE, PLATEDET_SIZE, 3), PLATEDET_PAD, np.uint8)
        canvas[py : py + nh, px : px + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        x = (canvas[:, :, ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None].astype(np.float16)
        out = self.platedet.run(None, {"images": x})[0][0].astype(np.float32)
        keep = np.nonzero(out[4] >= PLATEDET_SCORE)[0]
        boxes, scores = [], []
        for a in keep:
            cx, cy, bw, bh = out[0, a], out[1, a], out[2, a], out[3, a]
            x0 = max((cx - bw / 2 - px) / s, 0.0)
            y0 = max((cy - bh / 2 - py) / s, 0.0)
            x1 = min((cx + bw / 2 - px) / s, float(w))
            y1 = min((cy + bh / 2 - py) / s, float(h))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            boxes.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
            scores.append(float(out[4, a]))
        return [(boxes[i], scores[i]) for i in nms(boxes, scores, PLATEDET_NMS)]

    # 2. text lines with DBNet
    def lines(self, image):
        h, w = image.shape[:2]
        if w < 2 or h < 2:
            return []
        tw, th = dbnet_size(w, h, LINE_SIDE)
        x = norm_bgr(cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR))[None]
        pmap = self.det.run(None, {"x": x})[0][0, 0]
        mh, mw = pmap.shape
        mask = (pmap > DB_THRESH).astype(np.uint8)
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        comps = sorted(range(1, n), key=lambda k: -stats[k, cv2.CC_STAT_AREA])
        out = []
        for k in comps:
            ys, xs = np.nonzero(labels == k)
            pts = []
            for y in np.unique(ys):
                row = xs[ys == y]
                l, r = float(row.min()), float(row.max() + 1)
                pts += [(l, y), (l, y + 1), (r, y), (r, y + 1)]
            if len(pts) < 4:
                continue
            rect = cv2.minAreaRect(np.array(pts, dtype=np.float32))
            (cx, cy), (rw, rh), deg = rect
            if min(rw, rh) < DB_MIN_SIZE:
                continue
            q = rect_corners(rect)
            score = mean_inside(pmap, q)
            if score < DB_BOX_THRESH:
                continue
            d = rw * rh * DB_UNCLIP / (2 * (rw + rh))
            grown = ((cx, cy), (rw + 2 * d, rh + 2 * d), deg)
            if min(rw, rh) + 2 * d < DB_MIN_SIZE + 2:
                continue
            q = rect_corners(grown)
            q[:, 0] = np.clip(q[:, 0] * (w / mw), 0, w)
            q[:, 1] = np.clip(q[:, 1] * (h / mh), 0, h)
            out.append((q, score))
        out.sort(key=lambda t: -t[1])
        return [q for q, _ in out]

    def lines_inside(self, frame, box):
        fh, fw = frame.shape[:2]
        x, y, w, h = box
        bx, by, bw, bh = x - w * LINE_PAD, y - h * LINE_PAD, w * (1 + 2 * LINE_PAD), h * (1 + 2 * LINE_PAD)
        x0 = int(min(max(math.floor(bx), 0), fw))
        y0 = int(min(max(math.floor(by), 0), fh))
        x1 = int(min(max(math.ceil(bx + bw), 0), fw))
        y1 = int(min(max(math.ceil(by + bh), 0), fh))
        if x1 <= x0 or y1 <= y0:
            return []
        lines = [q for q in self.lines(frame[y0:y1, x0:x1]) if quad_h(q) >= 4 and quad_w(q) >= 0.5 * quad_h(q)]
        lines.sort(key=lambda q: -quad_area(q))
        lines = lines[:4]
        if not lines:
            return []
        tallest = max(quad_h(q) for q in lines)
        out = [(q, math.sqrt(quad_h(q) / max(tallest, 1e-3))) for q in lines if quad_w(q) >= quad_h(q) * 1.2][:2]
        top = max(lines, key=quad_h)
        th, tcy = quad_h(top), top[:, 1].min() + (top[:, 1].max() - top[:, 1].min()) / 2
        row = [q for q in lines
               if abs(q[:, 1].min() + (q[:, 1].max() - q[:, 1].min()) / 2 - tcy) < 0.5 * th
               and quad_h(q) * 1.6 >= th and quad_h(q) <= th * 1.6]
        if len(row) >= 2:
            pts = np.concatenate(row).astype(np.float32)
            out.append((rect_corners(cv2.minAreaRect(pts)), 1.0))
        return [(q + np.array([x0, y0]), wgt) for q, wgt in out]

    # 3. rectified crops
    @staticmethod
    def rectify(frame, q):
        tl, tr, br, bl = q
        w = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
        h = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
        w = int(min(max(round(w), 1), 1 << 20)) if math.isfinite(w) else 1
        h = int(min(max(round(h), 1), 1 << 20)) if math.isfinite(h) else 1
        # Continuous corners to OpenCV's pixel-centre convention on both sides.
        src = (q - 0.5).astype(np.float32)
        dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        crop = cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if h >= TALL_RATIO * w:
            crop = np.rot90(crop)
        return crop

    # 4. recognition
    def recognise(self, crops):
        aspect = [c.shape[1] / max(c.shape[0], 1) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: aspect[i])
        reads = [None] * len(crops)
        for k in range(0, len(order), REC_BATCH):
            chunk = order[k : k + REC_BATCH]
            widths = [min(max(math.ceil(REC_H * aspect[i]), 1), REC_MAX_W) for i in chunk]
            tw = max(max(widths), REC_MIN_W)
            x = np.zeros((len(chunk), 3, REC_H, tw), np.float32)
            for j, (i, cw) in enumerate(zip(chunk, widths)):
                x[j, :, :, :cw] = norm_bgr(cv2.resize(crops[i], (cw, REC_H), interpolation=cv2.INTER_LINEAR))
            probs = self.rec.run(None, {"x": x})[0]
            for j, i in enumerate(chunk):
                reads[i] = self.ctc(probs[j])
        return reads

    def ctc(self, probs):
        sub = probs[:, self.allowed]
        best_i = sub.argmax(axis=1)
        best_p = sub[np.arange(len(sub)), best_i]
        best_g = self.groups[best_i]
        other = np.where(self.groups[None, :] != best_g[:, None], sub, -np.inf)
        second_i = other.argmax(axis=1)
        second_p = other[np.arange(len(sub)), second_i]
        text, chars, prev, total = "", [], 0, 0.0
        for t in range(len(sub)):
            if not best_p[t] > probs[t, 0]:
                prev = 0
                continue
            g = int(best_g[t])
            runner = None
            if np.isfinite(second_p[t]):
                runner = (self.charset[int(self.groups[second_i[t]])], float(second_p[t]))
            if g == prev:
                if chars and best_p[t] > chars[-1][1]:
                    total += float(best_p[t]) - chars[-1][1]
                    chars[-1] = (chars[-1][0], float(best_p[t]), runner)
                continue
            prev = g
            ch = self.charset[g]
            text += ch
            chars.append((ch, float(best_p[t]), runner))
            total += float(best_p[t])
        return text, chars, (total / len(chars) if chars else 0.0)

    # 5. the whole frame
    def read_frame(self, frame):
        t0 = time.perf_counter()
        cands = self.detect(frame)
        t1 = time.perf_counter()
        jobs = []
        for i, (box, _) in enumerate(cands):
            jobs.append((i, box_quad(box), 1.0))
            if self.refine:
                for q, wgt in self.lines_inside(frame, box):
                    jobs.append((i, q, wgt))
        t2 = time.perf_counter()
        crops = [self.rectify(frame, q) for _, q, _ in jobs]
        reads = self.recognise(crops) if crops else []
        best = [None] * len(cands)
        for (i, _, wgt), read in zip(jobs, reads):
            text, score = best_variant(read, self.formats)
            score *= wgt
            if score < MIN_PLATE_SCORE:
                continue
            if best[i] is None or score > best[i][1]:
                best[i] = (text, score, normalise_plate(read[0]), read[2], cands[i][0])
        t3 = time.perf_counter()
        self.times["detect"] += t1 - t0
        self.times["refine"] += t2 - t1
        self.times["ocr"] += t3 - t2
        obs = sorted((b for b in best if b is not None), key=lambda b: -b[1])
        kept = []
        for o in obs:
            area = o[4][2] * o[4][3]
            if not any(_inter(k[4], o[4]) > 0.5 * min(area, k[4][2] * k[4][3]) for k in kept):
                kept.append(o)
        return [{"text": t, "raw": raw, "confidence": conf, "bbox": list(b)} for t, _, raw, conf, b in kept]


def _inter(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x1 - x0) * (y1 - y0) if x1 > x0 and y1 > y0 else 0.0


# ------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--analyse-fps", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="stop after this long (wall)")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many analysed frames")
    ap.add_argument("--regions", default="us,eu,br")
    ap.add_argument("--platedet", required=True)
    ap.add_argument("--det", required=True)
    ap.add_argument("--rec", required=True)
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    cv2.setNumThreads(args.threads)
    reader = Reader(args)
    cap = cv2.VideoCapture(args.input)
    if not cap.isOpened():
        sys.exit(f"plate_reference: cannot open {args.input}")
    interval = int(1e9 / max(args.analyse_fps, 1e-3))
    next_due = None
    index = decoded = analysed = 0
    t_decode = t_convert = 0.0
    frames = []
    # Warm-up: the first run of each session is not what a stream pays per frame.
    ok, first = cap.read()
    if ok:
        reader.read_frame(first)
        reader.times = {k: 0.0 for k in reader.times}
    cap.release()
    cap = cv2.VideoCapture(args.input)
    started = time.perf_counter()
    cpu_started = time.process_time()
    while True:
        if time.perf_counter() - started >= args.max_seconds:
            break
        if args.max_frames and analysed >= args.max_frames:
            break
        t = time.perf_counter()
        if not cap.grab():
            break
        t_decode += time.perf_counter() - t
        decoded += 1
        this = index
        index += 1
        pts = int(round(cap.get(cv2.CAP_PROP_POS_MSEC) * 1e6))
        due = pts if next_due is None else next_due
        if pts + 1_000_000 < due:
            continue
        next_due = due + ((pts + 1_000_000 - due) // interval + 1) * interval
        t = time.perf_counter()
        ok, frame = cap.retrieve()
        t_convert += time.perf_counter() - t
        if not ok:
            break
        analysed += 1
        frames.append({"index": this, "ms": pts / 1e6, "reads": reader.read_frame(frame)})
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    n = max(analysed, 1)
    report = {
        "frames_decoded": decoded,
        "frames_analysed": analysed,
        "wall_s": wall,
        # CPU seconds of the process over the loop, every thread (ONNX Runtime's, FFmpeg's):
        # steadier than wall time when other processes share the machine.
        "cpu_s": cpu,
        "analysed_fps": analysed / max(wall, 1e-9),
        "decoded_fps": decoded / max(wall, 1e-9),
        "stages_ms": {
            "decode": 1e3 * t_decode / n,
            "convert": 1e3 * t_convert / n,
            "detect": 1e3 * reader.times["detect"] / n,
            "refine": 1e3 * reader.times["refine"] / n,
            "ocr": 1e3 * reader.times["ocr"] / n,
        },
        "threads": args.threads,
        "versions": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
        "simplifications": SIMPLIFICATIONS,
        "reads": frames,
    }
    with open(args.out, "w") as fh:
        json.dump(report, fh)
    print(
        f"plate_reference: {analysed} frames analysed of {decoded} decoded in {wall:.1f} s "
        f"({analysed / max(wall, 1e-9):.2f} analysed/s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
