"""The parts of ``panopticapi`` that mmdet's COCO panoptic code uses.

mmdet 3.x loads COCO panoptic ground truth with ``panopticapi.utils.rgb2id``
(``LoadPanopticAnnotations``) and scores panoptic segmentation with
``panopticapi.evaluation.PQStat`` (``CocoPanopticMetric`` and
``mmdet.evaluation.functional.pq_compute_single_core``). ``panopticapi`` is
not published on PyPI, so machines that install from PyPI only lack it, and
then mmdet refuses to load or score panoptic data.

:func:`use_as_panopticapi_if_missing` fills that gap: where ``import
panopticapi`` fails, it registers modules ``panopticapi``,
``panopticapi.utils`` and ``panopticapi.evaluation`` holding the names below
and hands them to the mmdet modules that were imported before (they keep
``None`` in place of what they could not import). A real, installed
``panopticapi`` always takes precedence: then nothing is changed.

The names keep panopticapi's interfaces:

- :data:`OFFSET` and :data:`VOID`;
- :func:`rgb2id` and :func:`id2rgb`, the COCO panoptic PNG encoding of a
  segment id as the colour ``(id % 256, id // 256 % 256, id // 256**2)``;
- :class:`PQStatCat` and :class:`PQStat`, which count matches per category
  and average Panoptic Quality, written here from its definition (Kirillov
  et al., "Panoptic Segmentation", CVPR 2019). For one category with
  matched pairs TP (IoU > 0.5), unmatched predictions FP and unmatched
  ground-truth segments FN::

      PQ = sum of IoU over TP / (|TP| + |FP| / 2 + |FN| / 2)
      SQ = sum of IoU over TP / |TP|          (0 without TP)
      RQ = |TP| / (|TP| + |FP| / 2 + |FN| / 2)

  and PQ, SQ and RQ of a group (all, thing or stuff categories) are the
  means over its categories that have at least one TP, FP or FN.
"""
import importlib.machinery
import sys
import types
from collections import defaultdict
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

__all__ = [
    'OFFSET', 'VOID', 'rgb2id', 'id2rgb', 'PQStatCat', 'PQStat',
    'use_as_panopticapi_if_missing'
]

OFFSET = 256 * 256 * 256
"""Larger than any segment id: ``gt_id * OFFSET + pred_id`` keeps both."""
VOID = 0
"""Segment id of unlabelled pixels."""

_STAND_IN = '_hornet_mm_stand_in'
"""Attribute that marks the modules registered here."""

# names each mmdet module imports from panopticapi (``None`` when missing)
_MMDET_USERS = {
    'mmdet.evaluation.metrics.coco_panoptic_metric':
    ('panopticapi', 'VOID', 'PQStat', 'id2rgb', 'rgb2id'),
    'mmdet.evaluation.functional.panoptic_utils':
    ('OFFSET', 'VOID', 'PQStat', 'rgb2id'),
    'mmdet.apis.det_inferencer': ('VOID', 'id2rgb'),
}


def rgb2id(
    color: Union[np.ndarray, List[int], Tuple[int, int, int]]
) -> Union[np.ndarray, int]:
    """Segment ids of an RGB panoptic PNG: ``R + 256 * G + 256**2 * B``.

    Args:
        color: An ``(..., 3)`` array of RGB values (an image ``H x W x 3``
            gives an ``H x W`` id map of dtype int32), or one colour as 3
            numbers (gives an ``int``).
    """
    if isinstance(color, np.ndarray) and color.ndim >= 2:
        rgb = color.astype(np.int32)
        return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]
    red, green, blue = (int(c) for c in color)
    return red + 256 * green + 256 * 256 * blue


def id2rgb(id_map: Union[np.ndarray, int]) -> Union[np.ndarray, List[int]]:
    """The colours of segment ids (inverse of :func:`rgb2id`).

    Args:
        id_map: An array of ids (gives a ``uint8`` array with one more axis
            of size 3, RGB) or one id (gives a list ``[R, G, B]``).
    """
    if isinstance(id_map, np.ndarray):
        ids = id_map.astype(np.int64)
        rgb = np.empty(ids.shape + (3, ), np.uint8)
        for channel in range(3):
            rgb[..., channel] = ids % 256
            ids = ids // 256
        return rgb
    value = int(id_map)
    return [value % 256, value // 256 % 256, value // (256 * 256) % 256]


class PQStatCat:
    """Matching counts of one category.

    Attributes:
        iou (float): Sum of the IoUs of the true positives.
        tp (int): Matched pairs (IoU > 0.5).
        fp (int): Unmatched predicted segments.
        fn (int): Unmatched ground-truth segments.
    """

    def __init__(self) -> None:
        self.iou = 0.0
        self.tp = 0
        self.fp = 0
        self.fn = 0

    def __iadd__(self, other: 'PQStatCat') -> 'PQStatCat':
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    def __repr__(self) -> str:
        return (f'PQStatCat(iou={self.iou}, tp={self.tp}, fp={self.fp}, '
                f'fn={self.fn})')


class PQStat:
    """Matching counts of all categories; ``stat[category_id]`` is one's.

    Attributes:
        pq_per_cat (defaultdict): Category id -> :class:`PQStatCat` (made
            empty on first access).
    """

    def __init__(self) -> None:
        self.pq_per_cat: Dict[int, PQStatCat] = defaultdict(PQStatCat)

    def __getitem__(self, category_id: int) -> PQStatCat:
        return self.pq_per_cat[category_id]

    def __iadd__(self, other: 'PQStat') -> 'PQStat':
        for category_id, counts in other.pq_per_cat.items():
            self.pq_per_cat[category_id] += counts
        return self

    def pq_average(self, categories: Dict[int, dict],
                   isthing: Optional[bool]) -> Tuple[dict, dict]:
        """PQ, SQ and RQ averaged over a group of categories.

        Args:
            categories: Category id -> category dict with ``'isthing'``
                (1 or 0); the order of the dict is the order of the
                per-category results.
            isthing: ``None`` for all categories, ``True`` for the thing
                and ``False`` for the stuff categories.

        Returns:
            ``({'pq', 'sq', 'rq', 'n'}, per_category)``: the means over the
            ``n`` categories of the group that have at least one TP, FP or
            FN (0.0 where ``n`` is 0), and for every category of the group
            its ``{'pq', 'sq', 'rq'}`` (0.0 for a category without any).
        """
        per_category = {}
        sums = dict(pq=0.0, sq=0.0, rq=0.0)
        counted = 0
        for category_id, category in categories.items():
            if isthing is not None and (category['isthing'] == 1) != isthing:
                continue
            counts = self.pq_per_cat.get(category_id, PQStatCat())
            if counts.tp + counts.fp + counts.fn == 0:
                per_category[category_id] = dict(pq=0.0, sq=0.0, rq=0.0)
                continue
            counted += 1
            denominator = counts.tp + 0.5 * counts.fp + 0.5 * counts.fn
            scores = dict(
                pq=counts.iou / denominator,
                sq=counts.iou / counts.tp if counts.tp else 0.0,
                rq=counts.tp / denominator)
            per_category[category_id] = scores
            for key in sums:
                sums[key] += scores[key]
        averages = {
            key: total / counted if counted else 0.0
            for key, total in sums.items()
        }
        averages['n'] = counted
        return averages, per_category


def _module(name: str, doc: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    setattr(module, _STAND_IN, True)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def _register() -> None:
    """Put the ``panopticapi`` stand-in modules into ``sys.modules``."""
    utils = _module(
        'panopticapi.utils',
        'rgb2id and id2rgb (hornet_mask2former.panoptic_api).',
        rgb2id=rgb2id,
        id2rgb=id2rgb)
    evaluation = _module(
        'panopticapi.evaluation', 'OFFSET, VOID, PQStat and PQStatCat '
        '(hornet_mask2former.panoptic_api).',
        OFFSET=OFFSET,
        VOID=VOID,
        PQStat=PQStat,
        PQStatCat=PQStatCat)
    package = _module(
        'panopticapi',
        'Stand-in for panopticapi (hornet_mask2former.panoptic_api).',
        utils=utils,
        evaluation=evaluation)
    package.__path__ = []
    package.__spec__.submodule_search_locations = []
    sys.modules['panopticapi.utils'] = utils
    sys.modules['panopticapi.evaluation'] = evaluation
    sys.modules['panopticapi'] = package


def _patch_imported_mmdet() -> None:
    """Give the stand-in's names to mmdet modules imported without them.

    Modules imported later find ``panopticapi`` in ``sys.modules`` anyway.
    """
    package = sys.modules['panopticapi']
    names = dict(
        panopticapi=package,
        rgb2id=package.utils.rgb2id,
        id2rgb=package.utils.id2rgb,
        OFFSET=package.evaluation.OFFSET,
        VOID=package.evaluation.VOID,
        PQStat=package.evaluation.PQStat)
    for module_name, used in _MMDET_USERS.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name in used:
            setattr(module, name, names[name])


def use_as_panopticapi_if_missing() -> bool:
    """Serve this module as ``panopticapi`` where none is installed.

    Safe to call any number of times.

    Returns:
        ``False`` where a real ``panopticapi`` imports (nothing is changed),
        ``True`` where the stand-in is in use (registered now or by an
        earlier call).
    """
    try:
        import panopticapi
    except ImportError:
        _register()
    else:
        if not getattr(panopticapi, _STAND_IN, False):
            return False
    _patch_imported_mmdet()
    return True
