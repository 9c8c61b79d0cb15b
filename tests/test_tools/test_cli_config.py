"""Config checks shared by tools/train.py and tools/test.py."""
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from helpers import REPO
from hornet_mm.utils.cli import check_config_keys


def test_misspelt_runner_key_is_an_error():
    cfg = Config(dict(model=dict(), train_dataloder=dict(batch_size=2)))
    with pytest.raises(
            KeyError, match="'train_dataloder'.*'train_dataloader'"):
        check_config_keys(cfg)


def test_helper_variables_are_fine():
    cfg = Config(
        dict(
            model=dict(),
            bgr_mean=[1, 2, 3],
            classes=('a', ),
            max_epochs=3,
            train_dataloader=dict()))
    check_config_keys(cfg)


@pytest.mark.parametrize('tool,extra', [('train.py', []),
                                        ('test.py', ['missing.pth'])])
def test_tools_refuse_misspelt_key(tool, extra, tmp_path):
    config = tmp_path / 'bad.py'
    config.write_text("_base_ = '" + osp.join(
        REPO, 'configs', 'hornet', 'hornet-nano_1xb32_synthetic-in8.py') +
                      "'\noptim_wraper = dict(optimizer=dict(lr=1.0))\n")
    result = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'tools', tool),
         str(config), *extra],
        capture_output=True,
        text=True,
        cwd=str(tmp_path))
    assert result.returncode == 2
    assert "'optim_wraper'" in result.stderr
    assert "'optim_wrapper'" in result.stderr


def test_unknown_arch_in_config_names_valid_ones(tmp_path):
    config = tmp_path / 'bad_arch.py'
    config.write_text(
        "_base_ = '" + osp.join(REPO, 'configs', 'hornet',
                                'hornet-nano_1xb32_synthetic-in8.py') +
        "'\nmodel = dict(backbone=dict(arch='tinny'))\n"
        "train_dataloader = dict(dataset=dict(data_root='nowhere'))\n")
    result = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        str(config), '--work-dir',
        str(tmp_path / 'wd')
    ],
                            capture_output=True,
                            text=True,
                            cwd=str(tmp_path))
    assert result.returncode != 0
    assert "Unknown HorNet arch 'tinny'" in result.stderr
    assert 'tiny-gf' in result.stderr


def test_flush_denormals_zeroes_denormal_results():
    import torch

    from hornet_mm.utils.cli import flush_denormals
    tiny = torch.tensor([1e-30], dtype=torch.float32)
    try:
        assert flush_denormals()
        # 1e-30 * 1e-10 = 1e-40 is a denormal float32: flushed to zero
        assert (tiny * 1e-10).item() == 0.0
    finally:
        torch.set_flush_denormal(False)
    assert (tiny * 1e-10).item() > 0.0
