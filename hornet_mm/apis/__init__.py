from .checkpoint import (arch_name_of, convert_checkpoint,
                         export_official_state_dict, load_checkpoint_file,
                         save_checkpoint_atomic)

__all__ = ['arch_name_of', 'convert_checkpoint', 'export_official_state_dict',
           'load_checkpoint_file', 'save_checkpoint_atomic']
