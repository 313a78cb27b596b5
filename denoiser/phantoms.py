"""Digital abdominal phantoms with known ground truth, for training data, tests and benchmarks.

Each phantom is one axial slice at the level of the liver in the portal-venous phase: body
outline with a subcutaneous fat layer and muscle wall, liver with enhanced portal/hepatic
vessels and low-contrast lesions, spleen, kidneys, aorta and IVC, a vertebra with a cortical
shell, ribs, stomach and bowel loops with gas, and a mild smooth tissue texture. Shapes, sizes
and HU values are randomised from the seed, so a seed identifies a slice exactly.

Geometry is in millimetres: the field of view is fixed (default 358.4 mm, i.e. 0.7 mm pixels at
512x512), so a smaller matrix gives the same anatomy at coarser pixels. Image convention is
radiological: patient right (liver) on the image left, anterior at the top.

Masks returned with the image make metrics possible without hand-drawn ROIs: a homogeneous liver
ROI of about 1.5 cm^2 away from vessels and lesions (noise SD), and for each lesion a ring of
homogeneous liver around it (CNR background).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

DEFAULT_FOV_MM = 358.4
AIR_HU = -1000.0

# Label codes of the ``labels`` map; the painting order below decides overlaps.
LABELS: dict[str, int] = {
    "air": 0,
    "fat": 1,
    "muscle": 2,
    "liver": 3,
    "spleen": 4,
    "kidney": 5,
    "vessel": 6,
    "bone": 7,
    "bowel": 8,
    "gas": 9,
    "lesion": 10,
    # Used by the other anatomies of denoiser.anatomy.
    "lung": 11,
    "grey": 12,
    "white": 13,
    "csf": 14,
    "fluid": 15,
}

LIVER_ROI_AREA_MM2 = 150.0  # ~1.5 cm^2, the usual size of a liver noise ROI


@dataclass(frozen=True)
class Lesion:
    """One low-contrast liver lesion and the homogeneous liver ring used as its background."""

    mask: np.ndarray
    background: np.ndarray
    contrast_hu: float
    radius_mm: float
    center_rc: tuple[float, float]


@dataclass
class Phantom:
    """A phantom slice: the true HU image, its anatomy masks and the pixel spacing."""

    hu: np.ndarray
    pixel_spacing_mm: float
    body: np.ndarray
    liver: np.ndarray
    liver_roi: np.ndarray
    labels: np.ndarray
    lesions: list[Lesion] = field(default_factory=list)
    seed: int | None = None

    @property
    def lesion_masks(self) -> list[np.ndarray]:
        return [lesion.mask for lesion in self.lesions]

    @property
    def background_rois(self) -> list[np.ndarray]:
        """Background ROI per lesion, aligned with ``lesions``."""
        return [lesion.background for lesion in self.lesions]

    @property
    def shape(self) -> tuple[int, int]:
        return self.hu.shape  # type: ignore[return-value]


class _Canvas:
    """An HU image plus label map on a millimetre grid, painted shape by shape."""

    def __init__(self, size: int, fov_mm: float) -> None:
        self.size = size
        self.spacing = fov_mm / size
        centre = (size - 1) / 2.0
        coords = (np.arange(size, dtype=np.float64) - centre) * self.spacing
        self.y, self.x = np.meshgrid(coords, coords, indexing="ij")
        self.hu = np.full((size, size), AIR_HU, dtype=np.float64)
        self.labels = np.zeros((size, size), dtype=np.uint8)

    def paint(self, mask: np.ndarray, hu: float, label: str) -> None:
        self.hu[mask] = hu
        self.labels[mask] = LABELS[label]

    def to_rc(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        centre = (self.size - 1) / 2.0
        return (y_mm / self.spacing + centre, x_mm / self.spacing + centre)


def _ellipse(
    c: _Canvas, cx: float, cy: float, a: float, b: float, angle: float = 0.0
) -> np.ndarray:
    """Filled ellipse, semi-axes ``a`` (x) and ``b`` (y) in mm, rotated by ``angle`` radians."""
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = c.x - cx, c.y - cy
    u = (dx * cos + dy * sin) / a
    v = (-dx * sin + dy * cos) / b
    return u * u + v * v <= 1.0


def _blob(
    c: _Canvas,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    a: float,
    b: float,
    angle: float = 0.0,
    roughness: float = 0.08,
) -> np.ndarray:
    """Ellipse with a smoothly wavy outline, so organs don't all look like textbook ellipses."""
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = c.x - cx, c.y - cy
    u = (dx * cos + dy * sin) / a
    v = (-dx * sin + dy * cos) / b
    theta = np.arctan2(v, u)
    radius = np.ones_like(theta)
    for k in range(2, 6):
        radius += rng.uniform(0, roughness / (k - 1)) * np.cos(
            k * theta + rng.uniform(0, 2 * np.pi)
        )
    return np.hypot(u, v) <= radius


def _place_disk(
    c: _Canvas,
    rng: np.random.Generator,
    allowed: np.ndarray,
    radius_mm: float,
    margin_mm: float = 0.0,
) -> tuple[float, float] | None:
    """Random centre (x, y mm) of a disk that fits in ``allowed`` with a margin, or None."""
    clearance = ndimage.distance_transform_edt(allowed) * c.spacing
    candidates = np.argwhere(clearance >= radius_mm + margin_mm)
    if len(candidates) == 0:
        return None
    r, col = candidates[rng.integers(len(candidates))]
    return float(c.x[r, col]), float(c.y[r, col])


def abdominal_phantom(
    size: int = 512,
    seed: int = 0,
    *,
    fov_mm: float = DEFAULT_FOV_MM,
    n_lesions: tuple[int, int] = (1, 4),
    texture_sd_hu: float = 3.0,
) -> Phantom:
    """Build one randomised abdominal phantom slice.

    Args:
        size: matrix size (square); any size works, 512 gives ~0.7 mm pixels.
        seed: determines every random choice; the same seed and size give the same phantom.
        fov_mm: field of view (reconstruction diameter) in mm.
        n_lesions: inclusive range of the number of low-contrast liver lesions.
        texture_sd_hu: SD of the smooth soft-tissue texture (part of the ground truth).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9A7]))
    c = _Canvas(size, fov_mm)

    # Body outline, subcutaneous fat, muscle wall and the abdominal cavity. The body stays
    # inside the inscribed circle because the parallel-beam projector assumes it.
    a_body = rng.uniform(135.0, 165.0)
    b_body = a_body * rng.uniform(0.68, 0.82)
    body = _blob(c, rng, 0.0, rng.uniform(-6, 6), a_body, b_body, roughness=0.03)
    c.paint(body, rng.uniform(-110, -90), "fat")
    fat = rng.uniform(8.0, 30.0)
    a_wall, b_wall = a_body - fat, b_body - fat * rng.uniform(0.7, 1.1)
    wall = _ellipse(c, 0.0, 0.0, a_wall, b_wall) & body
    c.paint(wall, rng.uniform(40, 60), "muscle")
    wall_t = rng.uniform(6.0, 12.0)
    a_cav, b_cav = a_wall - wall_t, b_wall - wall_t
    cavity = _ellipse(c, 0.0, 0.0, a_cav, b_cav)
    c.paint(cavity, rng.uniform(-95, -75), "fat")

    _paint_ribs(c, rng, a_wall, b_wall, wall_t)
    spine = _paint_spine_and_back(c, rng, body, b_body)
    _paint_kidneys(c, rng, spine, cavity)

    liver_hu = rng.uniform(95, 115)
    liver = _blob(
        c, rng, -0.42 * a_cav, -0.08 * b_cav, 0.56 * a_cav, 0.78 * b_cav, rng.uniform(-0.2, 0.2)
    )
    liver &= ndimage.binary_erosion(cavity, iterations=max(1, round(1.5 / c.spacing)))
    liver &= c.labels != LABELS["kidney"]
    c.paint(liver, liver_hu, "liver")

    spleen = _blob(c, rng, 0.62 * a_cav, 0.22 * b_cav, 0.2 * a_cav, 0.34 * b_cav, -0.5) & cavity
    spleen &= c.labels == LABELS["fat"]
    c.paint(spleen, rng.uniform(105, 125), "spleen")

    _paint_great_vessels(c, rng, spine)
    _paint_stomach_and_bowel(c, rng, cavity, a_cav, b_cav)
    organ = c.labels == LABELS["liver"]  # the whole organ, vessels and lesions included
    vessels = _paint_liver_vessels(c, rng, organ)
    liver = c.labels == LABELS["liver"]
    lesions_raw = _paint_lesions(c, rng, liver, liver_hu, n_lesions)

    _add_texture(c, rng, texture_sd_hu)
    # A touch of blur stands in for partial volume, so edges are not one-pixel steps.
    hu = ndimage.gaussian_filter(c.hu, sigma=0.5).astype(np.float32)
    # On very coarse grids the blur reaches past the scanner circle, which the parallel-beam
    # projector requires to be air (same circle as skimage's radon).
    yy, xx = np.ogrid[:size, :size]
    hu[(yy - size // 2) ** 2 + (xx - size // 2) ** 2 > (size // 2) ** 2] = AIR_HU

    clean_liver = _homogeneous_liver(c, liver, [m for m, *_ in lesions_raw], vessels)
    lesions = [
        Lesion(
            mask=mask,
            background=_background_ring(c, mask, radius, clean_liver),
            contrast_hu=float(contrast),
            radius_mm=float(radius),
            center_rc=centre,
        )
        for mask, contrast, radius, centre in lesions_raw
    ]
    return Phantom(
        hu=hu,
        pixel_spacing_mm=c.spacing,
        body=body,
        liver=organ,
        liver_roi=disk_roi(c, rng, clean_liver),
        labels=c.labels,
        lesions=lesions,
        seed=seed,
    )


def _paint_ribs(
    c: _Canvas, rng: np.random.Generator, a_wall: float, b_wall: float, wall_t: float
) -> None:
    """Rib cross-sections in the lateral and posterior muscle wall (they cause mild streaks)."""
    for side in (-1, 1):
        for angle in rng.uniform(np.deg2rad(15), np.deg2rad(75), rng.integers(2, 5)):
            x = side * (a_wall - wall_t / 2) * np.cos(angle)
            y = (b_wall - wall_t / 2) * np.sin(angle) * rng.choice([-1, 1], p=[0.3, 0.7])
            r = rng.uniform(3.0, 5.0)
            rib = _ellipse(c, x, y, r * 1.4, r, angle)
            c.paint(rib, rng.uniform(350, 600), "bone")
            c.paint(_ellipse(c, x, y, r * 0.9, r * 0.55, angle), rng.uniform(150, 250), "bone")


def _paint_spine_and_back(
    c: _Canvas, rng: np.random.Generator, body: np.ndarray, b_body: float
) -> dict:
    """Vertebral body with cortical shell, canal, posterior elements and paraspinal muscles."""
    r_v = rng.uniform(15.0, 21.0)
    # The spinous process tip sits 10-20 mm under the posterior skin.
    cx, cy = rng.uniform(-3, 3), b_body - rng.uniform(10, 20) - 38.0 - 0.9 * r_v
    for side in (-1, 1):  # paraspinal muscles and psoas
        back = _ellipse(c, side * 27.0, cy + r_v + 24, 25, 19, side * 0.2) & body
        c.paint(back, rng.uniform(45, 60), "muscle")
        c.paint(_ellipse(c, side * (r_v + 10), cy + 2, 11, 17, side * -0.4), 48.0, "muscle")
    c.paint(_ellipse(c, cx, cy, r_v, r_v * 0.9), rng.uniform(700, 1000), "bone")
    shell = rng.uniform(1.5, 2.5)
    c.paint(_ellipse(c, cx, cy, r_v - shell, r_v * 0.9 - shell), rng.uniform(180, 260), "bone")
    canal_y = cy + r_v * 0.9 + 9.0
    c.paint(_ellipse(c, cx, canal_y, 11.0, 10.0), rng.uniform(400, 600), "bone")
    c.paint(_ellipse(c, cx, canal_y, 8.0, 7.0), rng.uniform(10, 30), "muscle")
    c.paint(_ellipse(c, cx, canal_y + 19.0, 3.5, 10.0), rng.uniform(300, 500), "bone")
    return {"cx": cx, "cy": cy, "r": r_v}


def _paint_kidneys(c: _Canvas, rng: np.random.Generator, spine: dict, cavity: np.ndarray) -> None:
    for side in (-1, 1):
        x = spine["cx"] + side * (spine["r"] + rng.uniform(34, 44))
        y = spine["cy"] + rng.uniform(-8, 4)
        tilt = side * rng.uniform(0.3, 0.7)
        a, b = rng.uniform(17, 23), rng.uniform(26, 34)
        kidney = _blob(c, rng, x, y, a, b, tilt, 0.04) & cavity
        c.paint(kidney, rng.uniform(150, 190), "kidney")
        medulla = _ellipse(c, x + side * 4, y, a * 0.55, b * 0.6, tilt) & kidney
        c.paint(medulla, rng.uniform(95, 120), "kidney")
        sinus = _ellipse(c, x - side * a * 0.45, y, a * 0.3, b * 0.3, tilt) & kidney
        c.paint(sinus, -70.0, "fat")


def _paint_great_vessels(c: _Canvas, rng: np.random.Generator, spine: dict) -> None:
    r_a = rng.uniform(9.0, 13.0)
    ax, ay = spine["cx"] + spine["r"] * 0.5, spine["cy"] - spine["r"] - r_a - 2.0
    c.paint(_ellipse(c, ax, ay, r_a, r_a), rng.uniform(150, 200), "vessel")
    ix, iy = spine["cx"] - spine["r"] * 1.1, spine["cy"] - spine["r"] - 9.0
    c.paint(_ellipse(c, ix, iy, 13.0, 9.0, 0.3), rng.uniform(110, 140), "vessel")


def _paint_stomach_and_bowel(
    c: _Canvas, rng: np.random.Generator, cavity: np.ndarray, a_cav: float, b_cav: float
) -> None:
    free = cavity & (c.labels == LABELS["fat"])
    sx, sy = 0.3 * a_cav, -0.38 * b_cav
    stomach = _blob(c, rng, sx, sy, 0.22 * a_cav, 0.25 * b_cav, 0.4) & free
    c.paint(stomach, rng.uniform(35, 50), "bowel")
    lumen = ndimage.binary_erosion(stomach, iterations=max(1, round(3.5 / c.spacing)))
    c.paint(lumen, rng.uniform(10, 25), "bowel")
    gas_level = sy - rng.uniform(0.0, 0.15) * b_cav  # air-fluid level, gas rises anteriorly
    c.paint(lumen & (c.y < gas_level), rng.uniform(-990, -950), "gas")
    for _ in range(rng.integers(4, 11)):
        free = cavity & (c.labels == LABELS["fat"])
        r = rng.uniform(6.0, 14.0)
        spot = _place_disk(c, rng, free, r, margin_mm=1.0)
        if spot is None:
            continue
        loop = _ellipse(c, *spot, r, r * rng.uniform(0.7, 1.0), rng.uniform(0, np.pi))
        c.paint(loop, rng.uniform(30, 45), "bowel")
        inner = ndimage.binary_erosion(loop, iterations=max(1, round(2.0 / c.spacing)))
        if rng.random() < 0.45:
            level = spot[1] + rng.uniform(-0.5, 1.0) * r
            c.paint(inner & (c.y < level), rng.uniform(-990, -900), "gas")
            c.paint(inner & (c.y >= level), rng.uniform(5, 30), "bowel")
        else:
            c.paint(inner, rng.uniform(5, 30), "bowel")


def _paint_liver_vessels(c: _Canvas, rng: np.random.Generator, liver: np.ndarray) -> np.ndarray:
    """Enhanced portal and hepatic vessel cross-sections, returned as one mask."""
    vessels = np.zeros_like(liver)
    inside = liver.copy()
    for i in range(rng.integers(5, 11)):
        r = rng.uniform(6.0, 8.0) if i == 0 else rng.uniform(1.5, 5.0)
        spot = _place_disk(c, rng, inside, r, margin_mm=2.0)
        if spot is None:
            continue
        vessel = _ellipse(c, *spot, r * rng.uniform(1.0, 2.2), r, rng.uniform(0, np.pi)) & liver
        c.paint(vessel, rng.uniform(150, 190), "vessel")
        vessels |= vessel
        inside &= ~vessel
    return vessels


def _paint_lesions(
    c: _Canvas,
    rng: np.random.Generator,
    liver: np.ndarray,
    liver_hu: float,
    n_lesions: tuple[int, int],
) -> list[tuple[np.ndarray, float, float, tuple[float, float]]]:
    """Hypodense lesions (-10 to -30 HU against liver), away from vessels and each other."""
    lesions = []
    allowed = liver.copy()
    for _ in range(rng.integers(n_lesions[0], n_lesions[1] + 1)):
        r = rng.uniform(3.0, 10.0)
        # The margin keeps a ring of liver around the lesion for its CNR background; a lesion
        # that finds no room is retried smaller rather than dropped.
        spot = None
        while spot is None and r >= 3.0:
            spot = _place_disk(c, rng, allowed, r, margin_mm=r + 3.0)
            r = r if spot is not None else r * 0.8
        if spot is None:
            break
        contrast = -rng.uniform(10.0, 30.0)
        mask = _ellipse(c, *spot, r, r)
        c.paint(mask, liver_hu + contrast, "lesion")
        allowed &= ~_ellipse(c, *spot, 3 * r + 8.0, 3 * r + 8.0)
        lesions.append((mask, contrast, r, c.to_rc(*spot)))
    return lesions


def _add_texture(c: _Canvas, rng: np.random.Generator, sd_hu: float) -> None:
    """Smooth random texture in soft tissue and fat (not in air, gas or bone)."""
    if sd_hu <= 0:
        return
    field_ = ndimage.gaussian_filter(rng.standard_normal(c.hu.shape), sigma=2.0 / c.spacing)
    field_ *= sd_hu / max(field_.std(), 1e-12)
    soft = ~np.isin(c.labels, [LABELS["air"], LABELS["gas"], LABELS["bone"]])
    c.hu[soft] += field_[soft]


def _homogeneous_liver(
    c: _Canvas, liver: np.ndarray, lesion_masks: list[np.ndarray], vessels: np.ndarray
) -> np.ndarray:
    """Liver parenchyma at least ~3 mm from vessels, lesions and the liver edge."""
    keep_out = vessels.copy()
    for mask in lesion_masks:
        keep_out |= mask
    away = ndimage.distance_transform_edt(~keep_out) * c.spacing >= 3.0
    inner = ndimage.distance_transform_edt(liver) * c.spacing >= 3.0
    return liver & away & inner


def _background_ring(
    c: _Canvas, lesion: np.ndarray, radius_mm: float, clean_liver: np.ndarray
) -> np.ndarray:
    """Ring of homogeneous liver from 2 mm outside the lesion edge, as wide as the lesion."""
    dist = ndimage.distance_transform_edt(~lesion) * c.spacing
    ring = (dist >= 2.0) & (dist <= 2.0 + max(radius_mm, 3.0 * c.spacing))
    return ring & clean_liver


def disk_roi(
    c: _Canvas, rng: np.random.Generator, clean: np.ndarray, area_mm2: float = LIVER_ROI_AREA_MM2
) -> np.ndarray:
    """A disk of ``area_mm2`` inside the ``clean`` (homogeneous) tissue, placed at random;
    it shrinks where the tissue offers no room for it."""
    clearance = ndimage.distance_transform_edt(clean) * c.spacing
    radius = np.sqrt(area_mm2 / np.pi)
    while radius > c.spacing:
        candidates = np.argwhere(clearance >= radius)
        if len(candidates):
            r, col = candidates[rng.integers(len(candidates))]
            return np.hypot(c.y - c.y[r, col], c.x - c.x[r, col]) <= radius
        radius *= 0.8
    # Tissue too small for any disk (tiny images): its most central pixels.
    r, col = np.unravel_index(np.argmax(clearance), clearance.shape)
    radius = min(clearance[r, col], max(np.sqrt(area_mm2 / np.pi), c.spacing))
    return np.hypot(c.y - c.y[r, col], c.x - c.x[r, col]) <= radius
