from .cpu_forms import CPU_MLP_FORMS, cpu_mlp_form
from .dft import dft_filter2d, dft_matrices
from .gnconv import (GlobalLocalFilter, GnConv, LayerNorm2d,
                     build_decoder_gnconv, build_mixer, exporting,
                     fusion_allowed, gnconv_widths)

__all__ = [
    'CPU_MLP_FORMS', 'cpu_mlp_form', 'GlobalLocalFilter', 'GnConv',
    'LayerNorm2d', 'build_decoder_gnconv', 'build_mixer', 'dft_filter2d',
    'dft_matrices', 'exporting', 'fusion_allowed', 'gnconv_widths'
]
