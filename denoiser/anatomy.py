"""Textured phantoms of five anatomies, for training and for the general evaluation grid.

The abdominal phantom of ``denoiser.phantoms`` is piecewise flat, and on flat images a
smoothing filter (or a network that learned flatness) looks better than it is. Real scans
carry texture at a few to tens of HU: parenchyma, fat septa, muscle fibres, trabecular
bone, lung vessels, the grey/white pattern of the brain. Each phantom here paints its
anatomy with organ-specific correlated random fields (part of the ground truth), so a
method that erases texture loses PSNR and SSIM as it would on a real scan.

Anatomies: ``abdomen`` (the abdominal phantom, textured), ``pelvis``, ``chest`` (lungs with
vessels and nodules), ``head`` (skull with diploe, grey and white matter a few HU apart,
ventricles, sulci) and ``neck`` (spine, cord, trachea, thyroid, vessels). Pixel spacing is
free: the field of view is ``size x spacing``, and an anatomy larger than that field is
scaled down to fit (a small field is a small patient, or a zoomed reconstruction).

Every phantom returns, as ``denoiser.phantoms.Phantom``: the true HU image, its labels, the
organ of interest (``liver``), a homogeneous ROI in it (``liver_roi``) and low-contrast
lesions (liver lesions, lung nodules, infarcts, nodes) with their background rings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from denoiser.phantoms import (
    AIR_HU,
    LABELS,
    Lesion,
    Phantom,
    _background_ring,
    _blob,
    _Canvas,
    _ellipse,
    _place_disk,
    abdominal_phantom,
    disk_roi,
)

ANATOMIES: tuple[str, ...] = ("abdomen", "pelvis", "chest", "head", "neck")
# The field each anatomy needs (mm), used to scale it into a smaller field of view.
NATURAL_FOV_MM = {"abdomen": 358.4, "pelvis": 400.0, "chest": 380.0, "head": 230.0, "neck": 160.0}
# The reading window that suits each anatomy (PSNR and SSIM are computed in it).
WINDOWS_HU = {
    "abdomen": (-160.0, 240.0),
    "pelvis": (-160.0, 240.0),
    "chest": (-1350.0, 150.0),
    "head": (0.0, 80.0),
    "neck": (-160.0, 240.0),
}

# Texture per tissue: (SD in HU, correlation length in mm) of each component.
TEXTURE = {
    "liver": ((5.0, 0.8), (6.0, 3.0)),
    "spleen": ((5.0, 0.8), (5.0, 2.5)),
    "kidney": ((6.0, 0.8), (6.0, 2.0)),
    "muscle": ((6.0, 0.6), (5.0, 2.5)),
    "fat": ((8.0, 0.8), (6.0, 4.0)),
    "bowel": ((12.0, 1.0), (10.0, 3.0)),
    "vessel": ((3.0, 1.0),),
    "grey": ((2.0, 0.7), (2.0, 2.0)),
    "white": ((1.5, 0.7), (1.5, 2.5)),
    "csf": ((1.0, 1.0),),
    "lung": ((25.0, 0.8), (20.0, 3.0)),
    "fluid": ((1.5, 2.0),),
}


def phantom(anatomy: str, size: int = 512, seed: int = 0, spacing_mm: float = 0.7) -> Phantom:
    """One textured phantom slice of ``anatomy`` at ``spacing_mm`` pixels (``size`` square)."""
    if anatomy not in ANATOMIES:
        raise ValueError(f"unknown anatomy {anatomy!r}; use one of {', '.join(ANATOMIES)}")
    if not 0.05 <= spacing_mm <= 5.0:
        raise ValueError(f"pixel spacing {spacing_mm} mm is outside 0.05-5 mm")
    fov = size * spacing_mm
    # An anatomy that does not fit is drawn on a canvas of its natural size (scaled down);
    # the pixel spacing reported is the real one.
    canvas_fov = max(fov, NATURAL_FOV_MM[anatomy] * 0.95)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA7A, ANATOMIES.index(anatomy)]))
    if anatomy == "abdomen":
        base = abdominal_phantom(size, seed, fov_mm=canvas_fov, texture_sd_hu=0.0)
        c = _Canvas(size, canvas_fov)
        c.hu, c.labels = base.hu.astype(np.float64), base.labels
        organ, roi, lesions = base.liver, base.liver_roi, base.lesions
        body = base.body
    else:
        c = _Canvas(size, canvas_fov)
        body, organ, roi, lesions = _PAINTERS[anatomy](c, rng)
    _add_tissue_texture(c, rng)
    hu = ndimage.gaussian_filter(c.hu, sigma=0.5).astype(np.float32)
    yy, xx = np.ogrid[:size, :size]
    hu[(yy - size // 2) ** 2 + (xx - size // 2) ** 2 > (size // 2) ** 2] = AIR_HU
    return Phantom(
        hu=hu,
        pixel_spacing_mm=spacing_mm,
        body=body,
        liver=organ,
        liver_roi=roi,
        labels=c.labels,
        lesions=lesions,
        seed=seed,
    )


def _field(shape: tuple[int, int], rng: np.random.Generator, corr_px: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=max(corr_px, 0.3))
    return field / max(float(field.std()), 1e-12)


def _add_tissue_texture(c: _Canvas, rng: np.random.Generator) -> None:
    """Organ-specific multi-scale texture, plus fat septa and trabecular bone."""
    for tissue, components in TEXTURE.items():
        mask = c.labels == LABELS[tissue]
        if not mask.any():
            continue
        for sd, corr_mm in components:
            c.hu[mask] += sd * _field(c.hu.shape, rng, corr_mm / c.spacing)[mask]
    fat = c.labels == LABELS["fat"]
    septa = np.abs(_field(c.hu.shape, rng, 2.5 / c.spacing)) < 0.06
    c.hu[fat & septa] += rng.uniform(40, 80)
    # Marrow: cancellous bone is a lattice of trabeculae, 100s of HU of fine texture.
    marrow = (c.labels == LABELS["bone"]) & (c.hu < 450)
    c.hu[marrow] += 70.0 * _field(c.hu.shape, rng, 0.5 / c.spacing)[marrow]


def _homogeneous(c: _Canvas, mask: np.ndarray, keep_out: np.ndarray, mm: float = 3.0):
    away = ndimage.distance_transform_edt(~keep_out) * c.spacing >= mm
    inner = ndimage.distance_transform_edt(mask) * c.spacing >= mm
    return mask & away & inner


def _lesions(
    c: _Canvas,
    rng: np.random.Generator,
    where: np.ndarray,
    count: tuple[int, int],
    radius_mm: tuple[float, float],
    contrast: Callable[[], float],
    label: str = "lesion",
) -> list[Lesion]:
    """Round lesions in ``where`` (contrast against the tissue there), each with a ring."""
    raw, allowed = [], where.copy()
    for _ in range(rng.integers(count[0], count[1] + 1)):
        r, spot = rng.uniform(*radius_mm), None
        while spot is None and r >= radius_mm[0] * 0.6:
            spot = _place_disk(c, rng, allowed, r, margin_mm=r + 3.0)
            r = r if spot is not None else r * 0.8
        if spot is None:
            break
        mask = _ellipse(c, *spot, r, r)
        delta = contrast()
        c.hu[mask] = float(np.median(c.hu[where & _ellipse(c, *spot, 3 * r, 3 * r)])) + delta
        c.labels[mask] = LABELS[label]
        allowed &= ~_ellipse(c, *spot, 3 * r + 8.0, 3 * r + 8.0)
        raw.append((mask, delta, r, c.to_rc(*spot)))
    clean = where & ~np.isin(c.labels, [LABELS[label]])
    return [
        Lesion(
            mask=m,
            background=_background_ring(c, m, r, clean),
            contrast_hu=float(d),
            radius_mm=float(r),
            center_rc=centre,
        )
        for m, d, r, centre in raw
    ]


def _body(c: _Canvas, rng: np.random.Generator, a: float, b: float) -> np.ndarray:
    body = _blob(c, rng, 0.0, rng.uniform(-4, 4), a, b, roughness=0.03)
    c.paint(body, rng.uniform(-110, -90), "fat")
    return body


def _vertebra(c: _Canvas, rng: np.random.Generator, cx: float, cy: float, r: float) -> None:
    c.paint(_ellipse(c, cx, cy, r, r * 0.9), rng.uniform(700, 1000), "bone")
    shell = rng.uniform(1.2, 2.2)
    c.paint(_ellipse(c, cx, cy, r - shell, r * 0.9 - shell), rng.uniform(160, 260), "bone")
    canal_y = cy + r * 0.9 + 0.5 * r
    c.paint(_ellipse(c, cx, canal_y, 0.6 * r, 0.55 * r), rng.uniform(400, 600), "bone")
    c.paint(_ellipse(c, cx, canal_y, 0.45 * r, 0.4 * r), rng.uniform(0, 15), "csf")
    c.paint(_ellipse(c, cx, canal_y, 0.25 * r, 0.22 * r), rng.uniform(30, 40), "muscle")


def _paint_pelvis(c: _Canvas, rng: np.random.Generator):
    a, b = rng.uniform(150, 185), rng.uniform(100, 125)
    body = _body(c, rng, a, b)
    muscle = _ellipse(c, 0, 0, a - rng.uniform(15, 30), b - rng.uniform(12, 25)) & body
    c.paint(muscle, rng.uniform(45, 60), "muscle")
    c.paint(_ellipse(c, 0, -0.1 * b, 0.5 * a, 0.55 * b), rng.uniform(-100, -80), "fat")
    for side in (-1, 1):  # femoral heads or iliac wings with marrow
        x, y = side * rng.uniform(0.55, 0.65) * a, rng.uniform(-5, 15)
        r = rng.uniform(20, 27)
        c.paint(_ellipse(c, x, y, r, r), rng.uniform(800, 1100), "bone")
        c.paint(_ellipse(c, x, y, r - 2.5, r - 2.5), rng.uniform(150, 300), "bone")
        c.paint(_ellipse(c, side * 0.3 * a, y + 10, 5, 5), rng.uniform(150, 220), "vessel")
    bladder = _blob(c, rng, 0, -0.25 * b, rng.uniform(25, 45), rng.uniform(20, 35), 0, 0.05)
    c.paint(bladder, rng.uniform(30, 45), "muscle")
    c.paint(ndimage.binary_erosion(bladder, iterations=max(1, round(3 / c.spacing))), 8, "fluid")
    rect_y = 0.45 * b
    c.paint(_ellipse(c, 0, rect_y, 16, 13), rng.uniform(30, 45), "bowel")
    c.paint(_ellipse(c, 0, rect_y - 3, 6, 4), -950, "gas")
    _vertebra(c, rng, 0, 0.72 * b - 10, 14)
    glute = (c.labels == LABELS["muscle"]) & (c.y > 0.1 * b)
    lesions = _lesions(c, rng, glute, (1, 3), (3, 9), lambda: -rng.uniform(12, 30))
    clean = _homogeneous(c, c.labels == LABELS["muscle"], c.labels == LABELS["lesion"])
    return body, c.labels == LABELS["muscle"], disk_roi(c, rng, clean), lesions


def _paint_chest(c: _Canvas, rng: np.random.Generator):
    a, b = rng.uniform(150, 175), rng.uniform(100, 125)
    body = _body(c, rng, a, b)
    wall = _ellipse(c, 0, 0, a - rng.uniform(10, 25), b - rng.uniform(8, 18)) & body
    c.paint(wall, rng.uniform(45, 60), "muscle")
    inner_a, inner_b = a - 32, b - 26
    lungs = np.zeros_like(body)
    for side in (-1, 1):
        lung = _blob(c, rng, side * 0.5 * inner_a, -2, 0.47 * inner_a, 0.9 * inner_b, 0, 0.06)
        c.paint(lung, rng.uniform(-880, -830), "lung")
        lungs |= lung
    heart = _blob(c, rng, 0.12 * inner_a, -0.25 * inner_b, 0.3 * inner_a, 0.45 * inner_b, 0.4)
    c.paint(heart, rng.uniform(35, 50), "muscle")
    c.paint(_ellipse(c, 0.15 * inner_a, -0.2 * inner_b, 22, 18), rng.uniform(150, 300), "vessel")
    c.paint(_ellipse(c, 0.18 * inner_a, 0.55 * inner_b, 12, 12), rng.uniform(150, 300), "vessel")
    c.paint(_ellipse(c, -0.02 * inner_a, 0.2 * inner_b, 8, 7), -980, "gas")  # trachea
    _vertebra(c, rng, 0, b - 45, 15)
    for angle in np.linspace(0.2, np.pi - 0.2, rng.integers(8, 13)):  # ribs
        x, y = (a - 20) * np.cos(angle), (b - 16) * np.sin(angle) * rng.choice([-1, 1])
        c.paint(_ellipse(c, x, y, 6, 4, angle), rng.uniform(400, 700), "bone")
    lung_now = lungs & (c.labels == LABELS["lung"])
    # Pulmonary vessels: many small round and oval cross-sections, larger towards the hilum.
    for _ in range(rng.integers(120, 220)):
        spots = np.argwhere(lung_now)
        if not len(spots):
            break
        r0, c0 = spots[rng.integers(len(spots))]
        x, y = c.x[r0, c0], c.y[r0, c0]
        hilum = np.exp(-abs(x) / 60.0)
        r = rng.uniform(0.4, 1.2) + 3.0 * hilum * rng.random()
        vessel = _ellipse(c, x, y, r * rng.uniform(1, 3), r, rng.uniform(0, np.pi)) & lung_now
        c.paint(vessel, rng.uniform(20, 60), "vessel")
    lung_now = lungs & (c.labels == LABELS["lung"])
    solid = rng.random() < 0.6
    lesions = _lesions(
        c,
        rng,
        lung_now,
        (1, 3),
        (2, 6),
        (lambda: rng.uniform(800, 900)) if solid else (lambda: rng.uniform(200, 300)),
    )
    clean = _homogeneous(c, lung_now, c.labels != LABELS["lung"], 1.5)
    return body, lungs, disk_roi(c, rng, clean, 80.0), lesions


def _paint_head(c: _Canvas, rng: np.random.Generator):
    a, b = rng.uniform(68, 82), rng.uniform(85, 100)
    head = _blob(c, rng, 0, 0, a, b, 0, 0.02)
    c.paint(head, rng.uniform(30, 50), "muscle")
    skull_out = _ellipse(c, 0, 0, a - 4, b - 4)
    c.paint(skull_out, rng.uniform(1200, 1600), "bone")
    t = rng.uniform(5, 8)
    diploe = _ellipse(c, 0, 0, a - 4 - 0.3 * t, b - 4 - 0.3 * t) & ~_ellipse(
        c, 0, 0, a - 4 - 0.7 * t, b - 4 - 0.7 * t
    )
    c.paint(diploe, rng.uniform(450, 750), "bone")
    brain = _ellipse(c, 0, 0, a - 4 - t, b - 4 - t)
    grey_hu = rng.uniform(37, 43)
    c.paint(brain, grey_hu, "grey")
    depth = ndimage.distance_transform_edt(brain) * c.spacing
    wobble = _field(c.hu.shape, rng, 3.0 / c.spacing)
    white = brain & (depth + 5.0 * wobble > rng.uniform(9, 13))
    c.paint(white, grey_hu - rng.uniform(8, 12), "white")
    sulci = brain & (depth < 14) & (np.abs(_field(c.hu.shape, rng, 2.0 / c.spacing)) < 0.07)
    c.paint(sulci, rng.uniform(2, 10), "csf")
    c.paint(brain & (depth < 1.5), rng.uniform(2, 10), "csf")
    for side in (-1, 1):  # lateral ventricles
        v = _blob(c, rng, side * 8, -5, 5, rng.uniform(18, 26), side * 0.25, 0.05) & brain
        c.paint(v, rng.uniform(2, 10), "csf")
    white_now = c.labels == LABELS["white"]
    lesions = _lesions(c, rng, white_now, (1, 2), (4, 10), lambda: -rng.uniform(4, 8))
    clean = _homogeneous(c, white_now, c.labels == LABELS["lesion"], 2.0)
    return head, c.labels == LABELS["white"], disk_roi(c, rng, clean, 60.0), lesions


def _paint_neck(c: _Canvas, rng: np.random.Generator):
    a, b = rng.uniform(52, 68), rng.uniform(48, 60)
    body = _body(c, rng, a, b)
    c.paint(_ellipse(c, 0, 0, a - 6, b - 6) & body, rng.uniform(45, 60), "muscle")
    for side in (-1, 1):
        c.paint(_ellipse(c, side * 0.55 * a, -0.1 * b, 9, 12, side * 0.5), -90, "fat")
        c.paint(_ellipse(c, side * 0.45 * a, -0.15 * b, 4, 4), rng.uniform(200, 300), "vessel")
        c.paint(_ellipse(c, side * 0.6 * a, -0.2 * b, 6, 5), rng.uniform(150, 250), "vessel")
        c.paint(_ellipse(c, side * 0.2 * a, -0.45 * b, 9, 6, side * 0.4), 110, "liver")
    c.paint(_ellipse(c, 0, -0.55 * b, 9, 7), -980, "gas")
    _vertebra(c, rng, 0, 0.25 * b, 10)
    # Hypodense nodes in the muscle (the thyroid is too small to hold a ring around one).
    muscle = c.labels == LABELS["muscle"]
    lesions = _lesions(c, rng, muscle, (1, 2), (2.5, 5), lambda: -rng.uniform(15, 30))
    muscle = c.labels == LABELS["muscle"]
    clean = _homogeneous(c, muscle, c.labels == LABELS["lesion"], 2.0)
    return body, muscle, disk_roi(c, rng, clean, 60.0), lesions


_PAINTERS = {
    "pelvis": _paint_pelvis,
    "chest": _paint_chest,
    "head": _paint_head,
    "neck": _paint_neck,
}
