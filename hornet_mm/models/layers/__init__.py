from .dft import dft_filter2d, dft_matrices
from .gnconv import (GlobalLocalFilter, GnConv, LayerNorm2d,
                     build_decoder_gnconv, build_mixer, exporting,
                     fusion_allowed, gnconv_widths)

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'LayerNorm2d', 'build_decoder_gnconv',
    'build_mixer', 'dft_filter2d', 'dft_matrices', 'exporting',
    'fusion_allowed', 'gnconv_widths'
]
