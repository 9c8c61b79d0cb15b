from .gnconv import (GlobalLocalFilter, GnConv, LayerNorm2d,
                     build_decoder_gnconv, build_mixer, fusion_allowed,
                     gnconv_widths)

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'LayerNorm2d', 'build_decoder_gnconv',
    'build_mixer', 'fusion_allowed', 'gnconv_widths'
]
