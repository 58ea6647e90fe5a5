"""Trajectory videos: frames (tile with the path, panorama, depth side by side), MP4 and GIF.

Pure functions of images, except :func:`write_mp4` / :func:`write_gif`, which write files
atomically. The MP4 is H.264 (``yuv420p``) through ``imageio-ffmpeg``'s bundled ffmpeg; frame
sides are padded to multiples of 16 (the codec's macro blocks) so nothing is rescaled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from crossview.errors import ConfigError

BLOCK = 16
PATH_RGB = (255, 64, 32)
CAMERA_RGB = (255, 255, 0)


def draw_path(tile: np.ndarray, path_px: np.ndarray, current: int | None = None) -> np.ndarray:
    """The tile ``H x W x 3`` uint8 with the path ``(T, 2)`` (x, y pixels) drawn on it.

    ``current`` marks that position with a dot (the camera of a frame).
    """
    img = Image.fromarray(np.ascontiguousarray(tile))
    draw = ImageDraw.Draw(img)
    width = max(1, round(min(img.size) / 128))
    pts = [(float(x), float(y)) for x, y in np.asarray(path_px, dtype=np.float64)]
    if len(pts) > 1:
        draw.line(pts, fill=PATH_RGB, width=width)
    if pts:
        r = 2 * width + 1
        x0, y0 = pts[0]
        draw.rectangle([x0 - r, y0 - r, x0 + r, y0 + r], outline=PATH_RGB, width=width)
    if current is not None:
        x, y = pts[current]
        r = 3 * width + 1
        draw.ellipse([x - r, y - r, x + r, y + r], fill=CAMERA_RGB, outline=(0, 0, 0))
    return np.asarray(img)


def _height(image: np.ndarray, height: int) -> np.ndarray:
    """Resize ``H x W x 3`` uint8 to ``height`` rows keeping the aspect ratio."""
    if image.shape[0] == height:
        return image
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    resample = Image.Resampling.NEAREST if height > image.shape[0] else Image.Resampling.BOX
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def compose_frame(parts: Sequence[np.ndarray], min_height: int = 128) -> np.ndarray:
    """Images ``H x W x 3`` uint8 side by side at a common height, padded to 16-px multiples.

    The height is the tallest part's, at least ``min_height`` (small renders are enlarged by
    nearest neighbour so their pixels stay visible).
    """
    if not parts:
        raise ConfigError("compose_frame: no images")
    height = max(min_height, max(p.shape[0] for p in parts))
    row = np.concatenate([_height(np.asarray(p, dtype=np.uint8), height) for p in parts], axis=1)
    pad_h = math.ceil(row.shape[0] / BLOCK) * BLOCK - row.shape[0]
    pad_w = math.ceil(row.shape[1] / BLOCK) * BLOCK - row.shape[1]
    return np.pad(row, ((0, pad_h), (0, pad_w), (0, 0)))


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    if not frames:
        raise ConfigError("video: no frames")
    shape = frames[0].shape
    if len(shape) != 3 or shape[2] != 3 or any(f.shape != shape for f in frames):
        raise ConfigError(f"video: frames must share one H x W x 3 shape, got {shape} and "
                          f"{sorted({f.shape for f in frames})[:3]}")
    return shape[0], shape[1]


def write_mp4(frames: Sequence[np.ndarray], path: str | Path, fps: float = 12.0) -> Path:
    """Write ``H x W x 3`` uint8 frames as an H.264 MP4 (atomically)."""
    import imageio_ffmpeg

    from crossview.io import atomic_path

    h, w = _check_frames(frames)
    if not fps > 0:
        raise ConfigError(f"fps: expected > 0, got {fps}")
    path = Path(path)
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264",
                                             macro_block_size=BLOCK, ffmpeg_log_level="error",
                                             output_params=["-f", "mp4"])
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
        writer.close()
    return path


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 12.0) -> Path:
    """Write ``H x W x 3`` uint8 frames as a looping GIF (atomically)."""
    import io

    from crossview.io import write_bytes_atomic

    _check_frames(frames)
    if not fps > 0:
        raise ConfigError(f"fps: expected > 0, got {fps}")
    images = [Image.fromarray(np.ascontiguousarray(f, dtype=np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0)
    return write_bytes_atomic(path, buf.getvalue())
