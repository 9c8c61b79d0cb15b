"""Image loading that names the bad file, for every dataset of hornet_mm.

Needs only mmcv and mmengine (no mmpretrain, mmdet or mmseg):

* :class:`LoadImageFromFile` (``hornet_mm.LoadImageFromFile``) is mmcv's
  loader with errors that name the file instead of a decoder traceback:
  ``FileNotFoundError`` for a missing file, :class:`ImageDecodeError` for an
  empty or corrupt one; given a sample with ``width`` and ``height`` (as
  mmdet's COCO datasets give), an image that decodes to another size is an
  :class:`ImageSizeError` naming the file, the image id and both sizes;
* EXIF orientation: the loader turns an image as its EXIF orientation tag
  says whenever mmcv does (the default ``color_type='color'`` with the
  ``cv2`` or ``pillow`` backend: the image as a viewer shows it), and an
  annotation file's sizes must then be those of the turned image; with
  ``color_type='color_ignore_orientation'`` (or ``'unchanged'``, or the
  ``turbojpeg`` backend) the stored pixels are used, for annotations drawn
  by a tool that ignored the tag. Images without the tag (COCO's own) are
  the same either way. :func:`applies_exif_orientation` and
  :func:`read_image_header` give the decoded size from the file's header
  alone, for start-up checks;
* :class:`SkipUndecodableImages` is the dataset mixin of ``hornet_mm``'s
  ImageNet and COCO classes: during training an image that cannot be
  decoded is skipped with a logged warning naming it and another sample is
  drawn (the mmengine convention for unusable samples); during testing, where
  skipping would change the metric, the error stands.
"""
import logging
import os.path as osp
from typing import Optional, Tuple, Union

import cv2
from mmcv.image import io as mmcv_io
from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmengine.logging import print_log
from PIL import Image

from hornet_mm.registry import TRANSFORMS

__all__ = [
    'EXIF_ORIENTATION', 'ImageDecodeError', 'ImageSizeError',
    'LoadImageFromFile', 'SkipUndecodableImages', 'applies_exif_orientation',
    'decoded_size', 'read_image_header', 'size_mismatch_message'
]

#: EXIF tag (0x0112) saying how to turn the stored pixels for display
EXIF_ORIENTATION = 274
# orientations 5 to 8 turn by 90 degrees (width and height swap); 2 to 4
# mirror or turn by 180 degrees
_TURNED_SIDEWAYS = (5, 6, 7, 8)
# formats whose tag both cv2 (4.11) and pillow apply; cv2 ignores it in WebP
_ORIENTED_FORMATS = ('JPEG', 'MPO')


class ImageDecodeError(ValueError):
    """An image file exists but cannot be decoded."""


class ImageSizeError(ValueError):
    """An image decodes to another size than its annotation file says."""


def applies_exif_orientation(color_type: Union[str, int] = 'color',
                             backend: Optional[str] = None) -> bool:
    """Whether mmcv's ``imfrombytes`` turns a JPEG by its EXIF orientation.

    Args:
        color_type: mmcv's ``flag`` (``'color'``, ``'grayscale'``,
            ``'unchanged'``, ``'color_ignore_orientation'``, ...) or a cv2
            ``IMREAD_*`` value.
        backend: mmcv's decoding backend; ``None`` is mmcv's global one.

    Returns:
        True for ``'color'`` and ``'grayscale'`` with the ``cv2`` and
        ``pillow`` backends (and cv2 flags without
        ``IMREAD_IGNORE_ORIENTATION``); ``turbojpeg`` and ``tifffile`` never
        turn the image.
    """
    backend = backend or mmcv_io.imread_backend
    if backend == 'pillow':
        return color_type in ('color', 'grayscale')
    if backend != 'cv2':
        return False
    flag = mmcv_io.imread_flags.get(color_type, color_type)
    return (isinstance(flag, int) and flag != cv2.IMREAD_UNCHANGED
            and not flag & cv2.IMREAD_IGNORE_ORIENTATION)


def read_image_header(path: str) -> Tuple[int, int, int, bool]:
    """Read an image's size and EXIF orientation from its header only.

    Returns:
        Width and height of the pixels as stored, the EXIF orientation (1,
        the identity, where there is none or it is not 1 to 8), and whether
        cv2 and pillow both apply the tag in this format (JPEG; cv2 ignores
        it in WebP, for one).

    Raises:
        OSError: The file is not an image PIL can identify.
    """
    with Image.open(path) as img:
        orientation = 1
        raw = img.info.get('exif')
        if raw:
            exif = Image.Exif()
            exif.load(raw)
            tag = exif.get(EXIF_ORIENTATION, 1)
            if isinstance(tag, int) and 1 <= tag <= 8:
                orientation = tag
        return (img.width, img.height, orientation, img.format
                in _ORIENTED_FORMATS)


def decoded_size(width: int, height: int, orientation: int,
                 applied: bool) -> Tuple[int, int]:
    """Width and height of an image of that stored size once decoded, with
    its EXIF orientation applied or not."""
    if applied and orientation in _TURNED_SIDEWAYS:
        return height, width
    return width, height


def size_mismatch_message(img_id, path: str, decoded: Tuple[int, int],
                          said: Tuple[int, int], orientation: int,
                          applied: bool, color_type: Union[str, int]) -> str:
    """The error for an image that decodes to another (width, height) than
    its annotation file says."""
    message = (f'image {img_id}: {path} decodes to {decoded[0]} x '
               f'{decoded[1]} pixels, the file says {said[0]} x {said[1]} '
               '(width x height)')
    if orientation != 1:
        message += (f'; it has EXIF orientation {orientation}, which the '
                    f'loader {"applies" if applied else "ignores"} '
                    f'(color_type={color_type!r}): if the annotations were '
                    'drawn on the stored pixels, set color_type='
                    "'color_ignore_orientation', if on the turned image, "
                    'give its size')
    return message


def _orientation_of(path: str) -> int:
    try:
        return read_image_header(path)[2]
    except (OSError, ValueError):
        return 1


class SkipUndecodableImages:
    """Dataset mixin: in training, a sample whose image cannot be decoded
    (:class:`ImageDecodeError`) is skipped with a logged warning (the base
    dataset then draws another); in testing the error stands."""

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except ImageDecodeError as err:
            if self.test_mode:
                raise
            print_log(
                f'Skipping sample {idx}: {err}',
                logger='current',
                level=logging.WARNING)
            return None


@TRANSFORMS.register_module()
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` raising :class:`ImageDecodeError` or
    ``FileNotFoundError`` naming the file, and :class:`ImageSizeError` if
    the image decodes to another size than the sample's ``width`` and
    ``height`` (where the sample has them, as mmdet's COCO samples do).

    Takes mmcv's arguments (``to_float32``, ``color_type``,
    ``imdecode_backend``, ``backend_args``, ...); the EXIF orientation tag is
    applied as mmcv applies it (:func:`applies_exif_orientation`).
    """

    @property
    def applies_exif_orientation(self) -> bool:
        """Whether this loader turns a JPEG by its EXIF orientation tag."""
        return applies_exif_orientation(self.color_type, self.imdecode_backend)

    def transform(self, results: dict) -> Optional[dict]:
        if 'img_path' not in results and results.get('img') is not None:
            return results  # already loaded (e.g. by an inferencer)
        path = results['img_path']
        if isinstance(path, str) and not osp.isfile(path):
            raise FileNotFoundError(f'Image file not found: {path}')
        try:
            out = super().transform(results)
        except Exception as err:  # decoder errors come in many types
            raise ImageDecodeError(
                f'Cannot decode image {path}: empty or corrupt file '
                f'({type(err).__name__}: {err})') from err
        if out is None or out.get('img') is None:
            raise ImageDecodeError(
                f'Cannot decode image {path}: empty or corrupt file')
        if 'width' in out and 'height' in out:
            self._check_size(out)
        return out

    def _check_size(self, results: dict) -> None:
        height, width = results['img'].shape[:2]
        said = (results['width'], results['height'])
        if (width, height) == said:
            return
        path = results['img_path']
        orientation = _orientation_of(path) if isinstance(path, str) else 1
        raise ImageSizeError(
            size_mismatch_message(
                results.get('img_id'), path, (width, height), said,
                orientation, self.applies_exif_orientation, self.color_type))
