"""Python/OpenCV peer for `pruefplatz bench augment`: the same transforms on
the same images, timed the same way. Prints one JSON object per case."""
import json
import sys
import time

import cv2
import numpy as np


def rotate(img, rng):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 15.0, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def shift_by(img, dx, dy):
    # The same algorithm as augment.Shift (padded copy), so the ratio compares
    # implementations, not algorithms.
    h, w = img.shape[:2]
    pad = cv2.copyMakeBorder(img, max(dy, 0), max(-dy, 0), max(dx, 0), max(-dx, 0), cv2.BORDER_REFLECT_101)
    ox, oy = max(-dx, 0), max(-dy, 0)
    return np.ascontiguousarray(pad[oy:oy + h, ox:ox + w])


def shift(img, rng):
    h, w = img.shape[:2]
    return shift_by(img, int(0.08 * w + 0.5), int(0.08 * h + 0.5))


def mirror(img, rng):
    return cv2.flip(img, 1)


def brightness(img, rng):
    return cv2.convertScaleAbs(img, alpha=1.1, beta=10 + 128 * (1 - 1.1))


def default(img, rng):
    # Mirrors augment.DefaultPipeline step by step (same probabilities and ranges).
    h, w = img.shape[:2]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    out = img
    if rng.random() < 0.5:
        hf, vf = rng.integers(2), rng.integers(2)
        if hf and vf:
            out = cv2.flip(out, -1)
        elif hf:
            out = cv2.flip(out, 1)
        elif vf:
            out = cv2.flip(out, 0)
    if rng.random() < 0.7:
        m = cv2.getRotationMatrix2D((cx, cy), rng.uniform(-20, 20), 1.0)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        dx, dy = round(rng.uniform(-0.08, 0.08) * w), round(rng.uniform(-0.08, 0.08) * h)
        out = shift_by(out, int(dx), int(dy))
    if rng.random() < 0.3:
        m = cv2.getRotationMatrix2D((cx, cy), 0, rng.uniform(0.9, 1.1))
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        b, c = rng.uniform(-20, 20), rng.uniform(0.85, 1.15)
        out = cv2.convertScaleAbs(out, alpha=c, beta=b + 128 * (1 - c))
    if rng.random() < 0.2:
        g = rng.uniform(0.8, 1.25)
        lut = np.round(255 * (np.arange(256) / 255) ** (1 / g)).astype(np.uint8)
        out = cv2.LUT(out, lut)
    if rng.random() < 0.15:
        s = rng.uniform(0.3, 1.0)
        out = cv2.GaussianBlur(out, (0, 0), s, sigmaY=s, borderType=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.2:
        s = rng.uniform(1, 5)
        n = out.astype(np.float32) + rng.standard_normal(out.shape, dtype=np.float32) * s
        out = np.clip(np.round(n), 0, 255).astype(np.uint8)
    return out


FUNCS = {"rotate": rotate, "shift": shift, "mirror": mirror, "brightness": brightness, "default": default}


def main():
    cfg = json.loads(sys.argv[1])
    for case in cfg["cases"]:
        cv2.setNumThreads(case["threads"])
        img = cv2.imread(case["image"], cv2.IMREAD_COLOR)
        fn = FUNCS[case["transform"]]
        rng = np.random.default_rng(1)
        fn(img, rng)  # warm-up
        n, t0 = 0, time.perf_counter()
        while True:
            fn(img, rng)
            n += 1
            el = time.perf_counter() - t0
            if el >= case["seconds"]:
                break
        print(json.dumps({"id": case["id"], "n": n, "seconds": el}), flush=True)


if __name__ == "__main__":
    main()
