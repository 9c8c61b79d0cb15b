from .hornet import (HorNet, HorNetBlock, convert_hornet_state_dict,
                     infer_hornet_arch, unwrap_checkpoint)

__all__ = [
    'HorNet', 'HorNetBlock', 'convert_hornet_state_dict', 'infer_hornet_arch',
    'unwrap_checkpoint'
]
