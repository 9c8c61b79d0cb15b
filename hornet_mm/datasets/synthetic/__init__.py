"""Small, seeded, learnable datasets written in the standard on-disk formats.

One writer per format, each drawing every image from its own generator
seeded by ``(seed, index, split)``, so the same arguments write
byte-identical files and any subset regenerates identically:

* :func:`make_imagenet_style` (:mod:`.imagenet`): ImageNet layout, shapes
  and textures per class;
* :func:`make_coco_style` (:mod:`.coco`): COCO instance segmentation,
  overlapping shapes with polygon, RLE and crowd masks;
* :func:`make_coco_panoptic_style` (:mod:`.panoptic`): COCO panoptic, the
  same shapes as things over sky and ground as stuff;
* :func:`make_ade_style` (:mod:`.ade`): ADE20K semantic segmentation, sky,
  ground, mountains ("other") and shapes.

What more than one writer uses (colours, fills, backgrounds, the shapes and
the scene of the COCO-style sets, COCO annotations, image writing) is in
:mod:`.painting`. ``tools/misc/make_synthetic_data.py`` runs the writers
from the command line.
"""
from .ade import ADE_STYLE_CLASSES, ADE_STYLE_PALETTE, make_ade_style
from .coco import COCO_SHAPE_CLASSES, make_coco_style
from .imagenet import SHAPE_CLASSES, make_imagenet_style
from .panoptic import (COCO_PANOPTIC_CLASSES, COCO_PANOPTIC_STUFF_CLASSES,
                       COCO_PANOPTIC_THING_CLASSES, make_coco_panoptic_style)

__all__ = [
    'ADE_STYLE_CLASSES', 'ADE_STYLE_PALETTE', 'COCO_PANOPTIC_CLASSES',
    'COCO_PANOPTIC_STUFF_CLASSES', 'COCO_PANOPTIC_THING_CLASSES',
    'COCO_SHAPE_CLASSES', 'SHAPE_CLASSES', 'make_ade_style',
    'make_coco_panoptic_style', 'make_coco_style', 'make_imagenet_style'
]
