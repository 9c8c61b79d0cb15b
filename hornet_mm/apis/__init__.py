from .checkpoint import (arch_name_of, convert_checkpoint,
                         export_official_state_dict, load_checkpoint_file)
from .detection import detect_images
from .inference import check_image_files, classify_images

__all__ = [
    'arch_name_of', 'check_image_files', 'classify_images',
    'convert_checkpoint', 'detect_images', 'export_official_state_dict',
    'load_checkpoint_file'
]
