"""Every dataset a config evaluates on is built in test mode.

In test mode an image of hornet_mm's datasets that cannot be decoded is an
error naming it; otherwise it is skipped with a warning and another image is
evaluated in its place, which changes the metric. mmengine's datasets
(mmpretrain's, mmseg's) default to ``test_mode=False``, so each config of
``configs/`` and ``projects/`` (inheritance resolved) must say so for its
``val_dataloader`` and ``test_dataloader``, also inside dataset wrappers.
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from helpers import REPO

CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True) +
    glob.glob(
        osp.join(REPO, 'projects', '*', 'configs', '**', '*.py'),
        recursive=True))


def _leaf_datasets(dataset, where):
    """``(where, dataset)`` for each dataset config inside wrappers
    (``dataset`` / ``datasets`` keys, as ConcatDataset, RepeatDataset)."""
    if isinstance(dataset, (list, tuple)):
        for i, item in enumerate(dataset):
            yield from _leaf_datasets(item, f'{where}[{i}]')
        return
    if 'dataset' in dataset or 'datasets' in dataset:
        for key in ('dataset', 'datasets'):
            if key in dataset:
                yield from _leaf_datasets(dataset[key], f'{where}.{key}')
        return
    yield where, dataset


@pytest.fixture(scope='module', autouse=True)
def _projects_importable():
    # project configs import `projects.<name>.<package>` from the root
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(REPO)
        yield


def test_the_configs_are_found():
    names = {osp.relpath(p, REPO) for p in CONFIGS}
    assert 'configs/hornet/hornet-nano_1xb32_synthetic-in8.py' in names
    assert 'configs/_base_/datasets/imagenet_bs128_hornet_224.py' in names
    assert any(n.startswith('projects/hornet_mask2former/') for n in names)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=lambda p: osp.relpath(p, REPO).replace('/', ':'))
def test_evaluation_datasets_are_in_test_mode(path):
    cfg = Config.fromfile(path)
    not_test_mode = []
    for loader in ('val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        if dataset is None:
            continue
        for where, leaf in _leaf_datasets(dataset, f'{loader}.dataset'):
            if leaf.get('test_mode') is not True:
                not_test_mode.append(f'{where} ({leaf.get("type")})')
    assert not not_test_mode, not_test_mode


def test_wrapped_datasets_are_searched():
    wrapped = dict(
        type='ConcatDataset',
        datasets=[
            dict(type='A', test_mode=True),
            dict(type='RepeatDataset', dataset=dict(type='B'))
        ])
    assert [(w, d['type']) for w, d in _leaf_datasets(wrapped, 'd')
            ] == [('d.datasets[0]', 'A'), ('d.datasets[1].dataset', 'B')]
