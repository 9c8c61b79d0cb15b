"""AutocastPolicy: one rule for --amp training, the benchmark and the tools."""
import pytest
import torch
import torch.nn as nn

from hornet_mm.utils.autocast import AutocastPolicy


class _Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 1)
        self.neck = nn.Conv2d(4, 4, 1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        inner = self.neck(self.backbone(x))
        return inner, self.head(inner)


class _Wrapped(nn.Module):  # as DDP: the model under .module

    def __init__(self, module):
        super().__init__()
        self.module = module


def test_cpu_model_with_backbone_autocasts_backbone_and_neck():
    model = _Detector()
    policy = AutocastPolicy.from_precision(torch.device('cpu'), 'bf16')
    assert policy.parts(model) == [model.backbone, model.neck]
    assert policy.parts(_Wrapped(model)) == [model.backbone, model.neck]
    seen = {}

    def record(module, args, out):
        seen['neck'] = out.dtype

    model.neck.register_forward_hook(record)
    with policy.context(model):
        assert not torch.is_autocast_enabled('cpu')  # only inside the parts
        inner, out = model(torch.randn(1, 3, 4, 4))
    assert seen['neck'] == torch.bfloat16
    assert inner.dtype == out.dtype == torch.float32  # handed on in fp32
    # the policy's hooks are gone afterwards (the test's own stays)
    assert len(model.neck._forward_hooks) == 1
    assert not model.backbone._forward_pre_hooks


def test_whole_model_elsewhere_and_nothing_in_fp32():
    model = _Detector()
    assert AutocastPolicy('cuda', torch.float16).parts(model) is None
    cpu = AutocastPolicy.from_precision('cpu', 'bf16')
    assert cpu.parts(nn.Linear(2, 2)) is None
    with cpu.context(nn.Linear(2, 2)):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    with AutocastPolicy.from_precision('cpu', 'fp32').context(model):
        assert not torch.is_autocast_enabled('cpu')
        assert model(torch.randn(1, 3, 2, 2))[1].dtype == torch.float32
    with pytest.raises(ValueError, match="Unknown precision 'int8'"):
        AutocastPolicy.from_precision('cpu', 'int8')
