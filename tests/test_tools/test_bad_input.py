"""Bad input to tools/train.py stops it before anything in the work
directory changes.

A work directory holds the checkpoint of a finished epoch. Each row starts
tools/train.py there with one bad input; it must fail with an error naming
the file or key, and the checkpoint and ``last_checkpoint`` must be
byte-for-byte what they were. The datasets' own behaviour on these inputs
is tested in tests/test_datasets (test_imagenet.py, test_coco_dataset.py),
the messages for misspelt keys and unknown archs in test_cli_config.py.

tools/test.py refuses the same checkpoints (one that does not fit the model,
with NaN or infinite weights, or an empty file) before evaluating anything,
with its own ``error:`` line and exit status 2, on every rank of a
distributed run and with test-time augmentation; an image of the test set
that cannot be decoded is an error naming it.
"""
import hashlib
import os.path as osp
import shutil
import sys

import pytest
import torch

import reference_hornet as ref
from helpers import REPO, free_port, loader_options, rank_env, run, start
from hornet_mm.apis import convert_checkpoint
from hornet_mm.datasets.synthetic import make_imagenet_style
from hornet_mm.engine.resume import CheckpointError, check_checkpoint_finite

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')
TEST = osp.join(REPO, 'tools', 'test.py')
# the tensors the NaN checkpoint of the fixture spoils
NON_FINITE = ('backbone.stages.2.1.gamma1', 'head.fc.bias')


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
    # the trained checkpoint spoilt: NaN / inf weights, keys under `model.`
    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    weights = dict(checkpoint['state_dict'])
    weights[NON_FINITE[0]] = torch.full_like(weights[NON_FINITE[0]], 1.0)
    weights[NON_FINITE[0]][3] = float('nan')
    weights[NON_FINITE[1]] = torch.full_like(weights[NON_FINITE[1]],
                                             float('inf'))
    nan = tmp / 'nan.pth'
    torch.save(dict(checkpoint, state_dict=weights), nan)
    prefixed = tmp / 'prefixed.pth'
    torch.save(
        dict(
            checkpoint,
            state_dict={
                f'model.{k}': v
                for k, v in checkpoint['state_dict'].items()
            }), prefixed)
    empty = tmp / 'empty.pth'
    empty.write_bytes(b'')
    return dict(
        root=root,
        work_dir=work_dir,
        tiny=tiny,
        foreign=foreign,
        nan=nan,
        prefixed=prefixed,
        empty=empty)


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

    def nan_load_from(trained, tmp_path):
        return trained['root'], [f'load_from={trained["nan"]}'], [
            f'Checkpoint {trained["nan"]} holds NaN or infinite values in 2 '
            'of its', ', '.join(NON_FINITE)
        ]

    def empty_load_from(trained, tmp_path):
        return trained['root'], [f'load_from={trained["empty"]}'], [
            f'Checkpoint {trained["empty"]} is empty'
        ]

    return [
        load_from, foreign_load_from, resume, init_cfg, missing_image,
        empty_annotations, misspelt_key, unknown_arch, nan_load_from,
        empty_load_from
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


def test_non_finite_tensors_are_named_and_counted():
    weights = {f'w{i}': torch.ones(3) for i in range(9)}
    weights['steps'] = torch.tensor(7)  # integers cannot be NaN
    check_checkpoint_finite({'state_dict': weights})
    for i in (1, 2, 4, 5, 6, 7, 8):
        weights[f'w{i}'] = torch.tensor([0., float('nan'), -float('inf')])
    weights['w3'] = torch.full((2, ), complex(0, float('inf')))
    with pytest.raises(CheckpointError) as err:
        check_checkpoint_finite({'state_dict': weights}, source='x.pth')
    assert str(err.value).startswith(
        'Checkpoint x.pth holds NaN or infinite values in 8 of its 9 '
        'floating-point tensors: w1, w2, w3, w4, w5 and 3 more.')


def _test(checkpoint, root, work_dir):
    return run([
        sys.executable, TEST, NANO, checkpoint, '--work-dir', work_dir,
        '--cfg-options', *loader_options(root)
    ])


@pytest.mark.parametrize(
    'name,message', [('prefixed', 'does not fit the model: only 0 of its'),
                     ('nan', 'holds NaN or infinite values in 2 of its'),
                     ('empty', 'is empty')])
def test_test_py_refuses_a_checkpoint_before_evaluating(
        trained, tmp_path, name, message):
    rc, log = _test(trained[name], trained['root'], tmp_path)
    assert rc == 2, log[-3000:]
    assert f'error: Checkpoint {trained[name]} {message}' in log, log[-3000:]
    if name == 'nan':
        assert ', '.join(NON_FINITE) in log
    assert 'Epoch(test)' not in log  # nothing was evaluated


def test_test_py_refuses_on_every_rank_with_tta(trained, tmp_path):
    command = [
        sys.executable, TEST, NANO, trained['nan'], '--tta', '--launcher',
        'pytorch', '--work-dir',
        str(tmp_path), '--cfg-options', *loader_options(trained['root'])
    ]
    port = str(free_port())
    procs = [start(command, env=rank_env(rank, 2, port)) for rank in range(2)]
    for proc in procs:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 2, log[-3000:]
        assert (f'error: Checkpoint {trained["nan"]} holds NaN or infinite '
                'values') in log, log[-3000:]
        assert 'Epoch(test)' not in log


def test_test_py_stops_at_an_undecodable_image(trained, tmp_path):
    root = _copy_data(trained, tmp_path)
    bad = root / 'val' / 'square' / 'square_00000.JPEG'
    bad.write_bytes(b'not a JPEG')
    rc, log = _test(trained['work_dir'] / 'epoch_1.pth', root,
                    tmp_path / 'test')
    assert rc != 0, log[-3000:]
    assert f'Cannot decode image {bad}' in log, log[-3000:]
