"""TensorBoard logging switched on by one --cfg-options entry."""
import glob
import sys

from helpers import loader_options, repo_path, run_ok
from hornet_mm.datasets.synthetic import make_imagenet_style

NANO = repo_path('configs/hornet/hornet-nano_1xb32_synthetic-in8.py')


def test_event_file_holds_loss_and_metric(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    make_imagenet_style(
        str(tmp_path / 'data'), num_train=4, num_val=2, progress=False)
    options = loader_options(tmp_path / 'data')
    run_ok(sys.executable, repo_path('tools/train.py'), NANO, '--work-dir',
           tmp_path / 'run', '--cfg-options', *options,
           'visualizer.vis_backends.0.type=TensorboardVisBackend',
           'train_dataloader.batch_size=8', 'train_cfg.max_epochs=2',
           'train_cfg.val_interval=1', 'default_hooks.logger.interval=1')
    (events, ) = glob.glob(
        str(tmp_path / 'run' / '*' / 'vis_data' / 'events.out.tfevents.*'))
    scalars = EventAccumulator(events)
    scalars.Reload()
    tags = scalars.Tags()['scalars']
    assert 'loss' in tags and 'accuracy/top1' in tags
    assert [e.step for e in scalars.Scalars('loss')] == list(range(1, 9))
    assert [e.step for e in scalars.Scalars('accuracy/top1')] == [1, 2]
    assert all(0 <= e.value <= 100 for e in scalars.Scalars('accuracy/top1'))
