"""hornet_mm.AmpOptimWrapper: bfloat16 autocast on CPU-only machines."""
import pytest
import torch
import torch.nn as nn

from hornet_mm.engine import AmpOptimWrapper
from hornet_mm.models import HorNet

TINY = dict(
    base_dim=8,
    depths=[1, 1, 1, 1],
    orders=[2, 2, 3, 3],
    dw_cfg=[dict(type='DW', kernel_size=7)] * 2 +
    [dict(type='GF', h=2, w=2)] * 2)

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU fallback')


def test_cpu_amp_trains_in_bfloat16_with_fft_in_float32(monkeypatch):
    model = nn.Sequential(HorNet(TINY), )
    head = nn.Linear(64, 3)
    params = list(model.parameters()) + list(head.parameters())
    wrapper = AmpOptimWrapper(
        optimizer=torch.optim.SGD(params, lr=0.1),
        clip_grad=dict(max_norm=1.0))
    assert wrapper.on_cpu and wrapper.loss_scaler is None
    fft_dtypes = []
    rfft2 = torch.fft.rfft2

    def spy(x, *args, **kwargs):
        fft_dtypes.append(x.dtype)
        return rfft2(x, *args, **kwargs)

    monkeypatch.setattr(torch.fft, 'rfft2', spy)
    before = head.weight.detach().clone()
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        logits = head(model[0](torch.randn(2, 3, 64, 64))[0])
        assert logits.dtype == torch.bfloat16
        loss = nn.functional.cross_entropy(logits.float(), torch.tensor([0,
                                                                         2]))
    wrapper.update_params(loss)
    assert fft_dtypes and set(fft_dtypes) == {torch.float32}
    assert not torch.equal(before, head.weight)
    assert all(p.dtype == torch.float32 for p in params)


def test_cpu_amp_state_dict_round_trip_and_gpu_checkpoint():
    param = nn.Parameter(torch.ones(2))
    wrapper = AmpOptimWrapper(optimizer=torch.optim.AdamW([param], lr=0.1))
    with wrapper.optim_context(param):
        loss = (param * 2).sum()
    wrapper.update_params(loss)
    state = wrapper.state_dict()
    assert 'loss_scaler' not in state
    gpu_state = dict(state, loss_scaler={'scale': 65536.0})
    fresh = AmpOptimWrapper(
        optimizer=torch.optim.AdamW([nn.Parameter(torch.ones(2))], lr=0.1))
    fresh.load_state_dict(gpu_state)
    assert fresh.optimizer.state_dict()['state'][0]['step'] == 1


def test_cpu_amp_refuses_float16():
    with pytest.raises(ValueError, match='bfloat16'):
        AmpOptimWrapper(
            optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1),
            dtype='float16')


def test_cpu_amp_autocasts_backbone_and_neck_only():
    """mmcv's CPU ops have no bfloat16 kernels: heads get float32."""

    class Detector(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = HorNet(
                TINY, out_indices=(2, 3), gap_before_final_norm=False)
            self.neck = nn.Conv2d(64, 8, 1)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            return self.head(self.neck(self.backbone(x)[-1]))

    model = Detector()
    seen = {}

    def record_stage(module, args, out):
        seen['conv'] = out.dtype

    def record_head(module, args):
        seen['head_in'] = args[0].dtype

    model.backbone.stages[0][0].gnconv.proj_in.register_forward_hook(
        record_stage)
    model.head.register_forward_pre_hook(record_head)
    wrapper = AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.randn(1, 3, 64, 64))
    assert seen == {'conv': torch.bfloat16, 'head_in': torch.float32}
    assert out.dtype == torch.float32
    assert not torch.is_autocast_enabled('cpu')
