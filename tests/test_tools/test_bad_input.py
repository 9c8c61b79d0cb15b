"""Bad input to tools/train.py stops it before anything in the work
directory changes.

A work directory holds the checkpoint of a finished epoch. Each row starts
tools/train.py there with one bad input; it must fail with an error naming
the file or key, and the checkpoint and ``last_checkpoint`` must be
byte-for-byte what they were. The datasets' own behaviour on these inputs
is tested in tests/test_datasets (test_imagenet.py, test_coco_dataset.py),
the messages for misspelt keys and unknown archs in test_cli_config.py.
"""
import hashlib
import os.path as osp
import shutil
import sys

import pytest
import torch

import reference_hornet as ref
from helpers import REPO, run
from hornet_mm.apis import convert_checkpoint
from hornet_mm.datasets.synthetic import make_imagenet_style

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')


def _options(root):
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}' for loader in loaders
    ] + [f'{loader}.num_workers=0' for loader in loaders] + [
        'train_dataloader.batch_size=16', 'val_dataloader.batch_size=16'
    ]


def _train(work_dir, root, *args):
    return run([
        sys.executable, TRAIN, NANO, '--work-dir', work_dir, *_options(root),
        *args
    ])


def _digests(work_dir):
    return {
        name: hashlib.sha256((work_dir / name).read_bytes()).hexdigest()
        for name in ('epoch_1.pth', 'last_checkpoint')
    }


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bad_input')
    root = tmp / 'data'
    make_imagenet_style(str(root), num_train=4, num_val=1, progress=False)
    work_dir = tmp / 'work'
    rc, log = _train(work_dir, root, 'train_cfg.max_epochs=1')
    assert rc == 0, log[-3000:]
    # a checkpoint of another architecture: a converted tiny-gf classifier
    official = tmp / 'hornet_tiny_gf.pth'
    torch.save({'model': ref.make_official_state_dict('tiny-gf')}, official)
    tiny = tmp / 'hornet-tiny-gf_in1k.pth'
    convert_checkpoint(str(official), str(tiny))
    foreign = tmp / 'resnet-like.pth'
    torch.save(
        {
            'state_dict': {
                'backbone.conv1.weight': torch.zeros(64, 3, 7, 7),
                'head.fc.weight': torch.zeros(8, 2048)
            }
        }, foreign)
    return dict(root=root, work_dir=work_dir, tiny=tiny, foreign=foreign)


def _copy_data(trained, tmp_path):
    return shutil.copytree(trained['root'], tmp_path / 'data')


def _bad_cases():
    """Each makes one bad input and returns the data root, config options
    and the phrases the error must hold."""

    def load_from(trained, tmp_path):
        return trained['root'], [f'load_from={trained["tiny"]}'], [
            f'Checkpoint {trained["tiny"]} does not fit the model',
            'backbone.downsample_layers.0.0.weight (64, 3, 4, 4) in the '
            'checkpoint, (24, 3, 4, 4) in the model'
        ]

    def foreign_load_from(trained, tmp_path):
        return trained['root'], [f'load_from={trained["foreign"]}'], [
            f'Checkpoint {trained["foreign"]} does not fit the model: only '
            '0 of its', 'missing, e.g. backbone.downsample_layers.0.0.weight'
        ]

    def resume(trained, tmp_path):
        return trained['root'], [], [
            f'Checkpoint {trained["tiny"]} does not fit the model'
        ]

    def init_cfg(trained, tmp_path):
        return trained['root'], [
            'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={trained["tiny"]}',
            'model.backbone.init_cfg.prefix=backbone.'
        ], [
            'Shape mismatch for downsample_layers.0.0.weight: checkpoint '
            'has (64, 3, 4, 4), model has (24, 3, 4, 4)'
        ]

    def missing_image(trained, tmp_path):
        root = _copy_data(trained, tmp_path)
        (root / 'train' / 'dots' / 'dots_00003.JPEG').unlink()
        return root, [], [
            f'{root / "meta" / "train.txt"}:32: image file not found: '
            f'{root / "train" / "dots" / "dots_00003.JPEG"}'
        ]

    def empty_annotations(trained, tmp_path):
        root = _copy_data(trained, tmp_path)
        (root / 'meta' / 'train.txt').write_text('')
        return root, [], [
            f'Annotation file is empty: {root / "meta" / "train.txt"}'
        ]

    def misspelt_key(trained, tmp_path):
        return trained['root'], ['optim_wraper.optimizer.lr=1.0'], [
            "Unknown config key 'optim_wraper': did you mean "
            "'optim_wrapper'?"
        ]

    def unknown_arch(trained, tmp_path):
        return trained['root'], ['model.backbone.arch=tinny'
                                 ], ["Unknown HorNet arch 'tinny'"]

    return [
        load_from, foreign_load_from, resume, init_cfg, missing_image,
        empty_annotations, misspelt_key, unknown_arch
    ]


@pytest.mark.parametrize('case', _bad_cases(), ids=lambda f: f.__name__)
def test_bad_input_leaves_the_work_dir_alone(trained, tmp_path, case):
    work_dir = trained['work_dir']
    before = _digests(work_dir)
    root, options, phrases = case(trained, tmp_path)
    flags = ['--resume', trained['tiny']] if case.__name__ == 'resume' \
        else []
    rc, log = _train(work_dir, root, *options, 'train_cfg.max_epochs=2',
                     *flags)
    assert rc != 0, log[-3000:]
    for phrase in phrases:
        assert phrase in log, log[-3000:]
    assert _digests(work_dir) == before
    assert not (work_dir / 'epoch_2.pth').exists()
