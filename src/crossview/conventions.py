"""Conventions every crossview module follows (written once; other docstrings point here).

Aerial tile
    Square, north-up (row 0 is north, column 0 is west). The camera sits at the tile centre
    (CVUSA / CVACT) or anywhere inside it (VIGOR). A tile knows its ground footprint in metres.

Panorama
    Equirectangular, row 0 at the top. Column ``W/2`` looks north and the bearing grows clockwise
    to the right: ``bearing(j) = 180 + 360 * j / W`` degrees (mod 360), so column 0 looks south.
    A panorama records its vertical field of view: CVUSA panoramas are a band of about +-45 deg
    around the horizon, CVACT ones span the full 180 deg.

Polar transform (CDE eq. 1, SAFA's published convention)
    For an ``S x S`` tile and an ``H x W`` output, output pixel ``(i, j)`` samples the tile at
    ``r = (S/2)/H * (H-1-i)``, ``theta = 2*pi*j/W``, ``row = S/2 + r*cos(theta)``,
    ``col = S/2 - r*sin(theta)``; bilinear, taps outside the tile count 0, no half-pixel offset.
    Row 0 is the far ring, the last row the tile centre; column ``W/2`` looks north.

Geodesy
    Positions are WGS84 ``(lat, lon)`` in degrees, latitude first. Metric work (distances,
    thresholds, grids) happens in UTM or local ENU through pyproj. Distances are metres and angles
    degrees at every interface; names carry units (``radius_m``, ``fov_deg``).

UTM zones
    One function picks a position's zone everywhere (layouts, the synthetic world, ``tiles
    make``, reports): :func:`crossview.geometry.geodesy.utm_zone_for`, the 6 deg zones with the
    Norway (32V: 56-64 N, 3-12 E -> zone 32) and Svalbard (72-84 N: zones 31, 33, 35, 37)
    exceptions. A zone is written ``<number><N|S>`` with the *hemisphere* letter, e.g. ``"32N"``
    (Bergen), ``"55S"`` (Canberra): the form :class:`~crossview.geometry.geodesy.UtmZone` prints
    and parses, one-to-one with EPSG 326xx / 327xx. MGRS latitude-band letters (``"13T"``) are
    never written: band ``S`` is in the northern hemisphere, so the two styles would collide.

Tensors
    Images enter models as float32 ``(N, C, H, W)`` in ``[0, 1]``; each method owns its
    normalisation. Descriptors are L2-normalised float32 rows; similarity is the dot product.

Rotation augmentation pairs
    Rotating the tile counter-clockwise by ``k * 90`` deg (``numpy.rot90(tile, k)``) pairs with
    rolling the panorama by ``-k * W/4`` columns (content moves left). A horizontal flip of the
    panorama pairs with a left-right flip of the tile; apply both together.
"""

NORTH_COLUMN_FRACTION = 0.5
"""Fraction of the panorama width at which the view looks north."""

CAMERA_HEIGHT_M = 2.0
"""Height of the ground camera above the terrain in the synthetic world and renderers."""
