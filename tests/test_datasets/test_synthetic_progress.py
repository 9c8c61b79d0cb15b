"""The writers' progress bars next to a live display left open on rich's
shared console (as an inferencer stopped mid-way leaves one): each writer
still writes its set."""
import os

import pytest
from rich import get_console
from rich.live import Live

from hornet_mm.datasets.synthetic import (make_coco_panoptic_style,
                                          make_coco_style, make_imagenet_style)


@pytest.mark.parametrize('writer', [
    lambda root: make_coco_style(root, num_train=1, num_val=1),
    lambda root: make_coco_panoptic_style(root, num_train=1, num_val=1),
    lambda root: make_imagenet_style(
        root, num_train=1, num_val=1, classes=['circle', 'square']),
])
def test_writers_show_progress_beside_another_live_display(writer, tmp_path):
    with Live(console=get_console()):
        writer(str(tmp_path))
    assert os.listdir(tmp_path /
                      'train2017' if (tmp_path /
                                      'train2017').exists() else tmp_path /
                      'train')
