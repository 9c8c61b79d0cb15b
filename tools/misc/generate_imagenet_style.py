"""Write a small, seeded, learnable ImageNet-layout dataset.

Runs ``tools/misc/make_synthetic_data.py imagenet`` (same options).

Example:
    python tools/misc/generate_imagenet_style.py data/synthetic_imagenet
"""
import importlib.util
import os.path as osp
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    here = osp.dirname(osp.abspath(__file__))
    path = osp.join(here, 'make_synthetic_data.py')
    spec = importlib.util.spec_from_file_location('make_synthetic_data', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = sys.argv[1:] if argv is None else argv
    return tool.main(['imagenet', *args])


if __name__ == '__main__':
    sys.exit(main())
