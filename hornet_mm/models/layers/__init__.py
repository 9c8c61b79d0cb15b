from .gnconv import (GlobalLocalFilter, GnConv, LayerNorm2d, build_mixer,
                     gnconv_widths)

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'LayerNorm2d', 'build_mixer',
    'gnconv_widths'
]
