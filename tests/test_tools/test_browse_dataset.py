"""tools/analysis_tools/browse_dataset.py draws the training pipeline's
samples of every config family."""
import os

import mmcv
import numpy as np
import pytest

from helpers import load_tool, repo_path
from hornet_mm.datasets.synthetic import (make_ade_style,
                                          make_coco_panoptic_style,
                                          make_coco_style, make_imagenet_style)

CASES = {
    'classification':
    ('configs/hornet/hornet-nano_1xb32_synthetic-in8.py',
     lambda d: make_imagenet_style(d, num_train=1, num_val=1, progress=False)),
    'detection':
    ('configs/detection/mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py',
     lambda d: make_coco_style(d, num_train=3, num_val=1, progress=False)),
    'segmentation': ('configs/segmentation/'
                     'hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py',
                     lambda d: make_ade_style(d, num_train=3, num_val=1)),
    'panoptic': ('projects/hornet_mask2former/configs/'
                 'mask2former_hornet-nano_1xb4-2k_synthetic-coco-panoptic.py',
                 lambda d: make_coco_panoptic_style(
                     d, num_train=3, num_val=1, progress=False)),
}


@pytest.mark.parametrize('family', list(CASES))
def test_draws_pipeline_samples(family, tmp_path, capsys):
    config, make = CASES[family]
    make(str(tmp_path / 'data'))
    out = tmp_path / 'browse'
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    root = f'{tmp_path / "data"}/'
    assert tool.main([
        repo_path(config), '--output-dir',
        str(out), '--not-show', '--max-images', '3', '--seed', '1',
        '--cfg-options', f'train_dataloader.dataset.data_root={root}'
    ]) == 0
    assert '3 train samples drawn' in capsys.readouterr().out
    pictures = sorted(os.listdir(out))
    assert len(pictures) == 3 and all(p.endswith('.png') for p in pictures)
    # what was drawn: the picture differs from the pipeline's image
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope
    cfg = Config.fromfile(repo_path(config))
    cfg.train_dataloader.dataset.data_root = root
    init_default_scope(cfg.get('default_scope') or 'mmpretrain')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    from mmengine.runner import set_random_seed
    set_random_seed(1)
    item = dataset[0]  # the same random augmentation as the first picture
    drawn = mmcv.imread(str(out / pictures[0]), channel_order='rgb')
    fed = tool._image(item['inputs'])
    if family == 'classification':  # the label is written above the image
        assert drawn.shape[1] == fed.shape[1]
    else:
        assert drawn.shape == fed.shape
        assert (np.abs(drawn.astype(int) - fed).sum(-1) > 30).mean() > 0.01


def test_errors(tmp_path, capsys):
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    assert tool.main(
        [str(tmp_path / 'none.py'), '--output-dir',
         str(tmp_path)]) == 1
    assert 'Config file not found' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([repo_path(CASES['detection'][0]), '--not-show'])
