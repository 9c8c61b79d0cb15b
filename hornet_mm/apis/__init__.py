from .checkpoint import (arch_name_of, convert_checkpoint,
                         export_official_state_dict, load_checkpoint_file)
from .detection import detect_images
from .inference import (IMAGE_EXTENSIONS, check_image_files, classify_images,
                        expand_image_paths)

__all__ = [
    'IMAGE_EXTENSIONS', 'arch_name_of', 'check_image_files', 'classify_images',
    'convert_checkpoint', 'detect_images', 'expand_image_paths',
    'export_official_state_dict', 'load_checkpoint_file'
]
