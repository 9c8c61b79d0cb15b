"""Code of the HorNet + Mask2Former project (imported by its configs).

The models, the optimizer constructor and the tools come from hornet_mm and
the libraries; this package adds only what COCO panoptic segmentation needs
on machines without ``panopticapi`` (not on PyPI): see :mod:`.panoptic_api`.
"""
from .panoptic_api import use_as_panopticapi_if_missing

use_as_panopticapi_if_missing()

__all__ = ['use_as_panopticapi_if_missing']
