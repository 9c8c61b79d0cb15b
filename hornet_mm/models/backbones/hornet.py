"""HorNet backbone.

HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions, Rao et al., NeurIPS 2022 (https://arxiv.org/abs/2207.14284).
Original release: https://github.com/raoyongming/HorNet (MIT licence), whose
classification model this port reproduces exactly (same parameters, same
outputs for the same weights; module names match the release's keys).

Deviations from the original release and from mmpretrain 1.2.0's port:

* Argument names follow mmpretrain's ``HorNet`` so a config can switch by
  changing ``type``; ``arch`` also accepts mmpretrain's custom dicts.
* The 384 archs use the filter sizes of the released 384 models,
  (24, 13) and (12, 7) (mmpretrain 1.2.0 has (24, 12) and (13, 7)).
* ``frozen_stages`` freezes the output norms of the frozen stages (mmpretrain
  1.2.0 looks up the wrong norm and fails for ``frozen_stages=3``) and
  ``train()`` returns the module.
* ``with_cp`` checkpoints every block with the non-reentrant implementation.
* :meth:`HorNet.get_layer_depth` gives the layer ids of the published
  layer-wise / stage-wise learning-rate decay.
* Loading a state dict whose shapes do not fit is an error naming the key and
  both shapes, except a global-filter weight of another size, which is
  resized (see :class:`~hornet_mm.models.layers.GlobalLocalFilter`).

Speed: the feature maps stay channels-last in memory from the stem's norm
on (a channel-first LayerNorm on a channels-last map is one pass over
contiguous channels, with no permute copy). The MLP runs on that memory as
it is: as ``F.linear`` on the channels-last view or, on CPUs where that is
faster, as 1x1 convolutions (oneDNN), which ran the MLP's shapes about twice
as fast as the MKL GEMM behind a float32 ``nn.Linear`` on a 2-thread AMD EPYC
and 1.15x slower on an Intel Xeon; the choice is timed once per machine and
cached (:func:`~hornet_mm.models.layers.cpu_mlp_form`).
The layer scales are folded into ``proj_out`` and ``pwconv2`` on the fly.
This fused computation is one method, :meth:`HorNetBlock.forward_fused`,
chosen per call by :func:`~hornet_mm.models.layers.fusion_allowed` (not
for float16, ``torch.jit`` traces, hooked or replaced modules: those see the
plain formulation's module calls); ``fused=False`` switches it off.
Parameters, state dicts and results (to float rounding) are those of the
plain formulation.
"""
import copy
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from hornet_mm.registry import MODELS
from ..layers import GnConv, LayerNorm2d
from ..layers.cpu_forms import cpu_mlp_form, mlp
from ..layers.gnconv import fusion_allowed

__all__ = [
    'HorNetBlock', 'HorNet', 'convert_hornet_state_dict', 'unwrap_checkpoint',
    'infer_hornet_arch'
]


class HorNetBlock(nn.Module):
    """One HorNet block: a gnConv token mixer and an MLP, both residual.

    ``x = x + drop_path(gamma1 * gnConv(LN(x)))`` and
    ``x = x + drop_path(gamma2 * pwconv2(GELU(pwconv1(LN(x)))))``, the MLP
    running on channels-last features.

    Args:
        dim: Channels of the block.
        order: Order of the gnConv.
        mixer_cfg: Spatial mixer of the gnConv (``dict(type='DW',
            kernel_size=7)`` or ``dict(type='GF', h=.., w=..)``).
        scale: Factor on the gnConv mixer output.
        drop_path_rate: Stochastic depth rate of this block.
        use_layer_scale: Whether to scale both branches by learnable
            per-channel vectors initialised to 1e-6.
        fused: Whether ``forward`` may use :meth:`forward_fused` (decided
            per call by :func:`~hornet_mm.models.layers.fusion_allowed`);
            False always computes the equations module by module.
    """

    _fused_parts = dict(
        gnconv=(GnConv, ), pwconv1=(nn.Linear, ), pwconv2=(nn.Linear, ))

    def __init__(self,
                 dim: int,
                 order: int = 5,
                 mixer_cfg: Optional[dict] = None,
                 scale: float = 1 / 3,
                 drop_path_rate: float = 0.,
                 use_layer_scale: bool = True,
                 fused: bool = True) -> None:
        super().__init__()
        self.fused = fused
        self.norm1 = LayerNorm2d(dim)
        self.gnconv = GnConv(
            dim, order=order, mixer_cfg=mixer_cfg, scale=scale, fused=fused)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        if use_layer_scale:
            self.gamma1 = nn.Parameter(torch.full((dim, ), 1e-6))
            self.gamma2 = nn.Parameter(torch.full((dim, ), 1e-6))
        else:
            self.gamma1 = self.gamma2 = None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 \
            else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and fusion_allowed(self, x):
            return self.forward_fused(x)
        y = self.gnconv(self.norm1(x))
        if self.gamma1 is not None:
            y = y * self.gamma1.view(-1, 1, 1)
        x = x + self.drop_path(y)
        y = self.norm2(x.permute(0, 2, 3, 1))
        y = self.pwconv2(self.act(self.pwconv1(y)))
        if self.gamma2 is not None:
            y = y * self.gamma2
        return x + self.drop_path(y.permute(0, 3, 1, 2))

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)`` with the layer scales folded into ``proj_out`` and
        ``pwconv2``; the MLP runs as ``F.linear`` on the channels-last view
        or, on CPUs where that is faster, as 1x1 convolutions on the
        channels-last map (:func:`~hornet_mm.models.layers.cpu_mlp_form`).
        For callers that have checked
        :func:`~hornet_mm.models.layers.fusion_allowed`."""
        x = x + self.drop_path(
            self.gnconv.forward_fused(self.norm1(x), self.gamma1))
        y = self.norm2(x.permute(0, 2, 3, 1))
        fc1, fc2, gamma = self.pwconv1, self.pwconv2, self.gamma2
        weight2, bias2 = fc2.weight, fc2.bias
        if gamma is not None:
            weight2 = weight2 * gamma[:, None]
            bias2 = None if bias2 is None else bias2 * gamma
        y = y.permute(0, 3, 1, 2)
        form = cpu_mlp_form(y) if y.device.type == 'cpu' else 'linear'
        y = mlp(y, fc1.weight, fc1.bias, weight2, bias2, self.act, form)
        return x + self.drop_path(y)


def _dw7() -> dict:
    return dict(type='DW', kernel_size=7)


def _arch(
    base_dim: int,
    gf_sizes: Optional[Tuple[Tuple[int, int], Tuple[int,
                                                    int]]] = None) -> dict:
    mixers = [_dw7(), _dw7(), _dw7(), _dw7()]
    if gf_sizes is not None:
        mixers[2:] = [dict(type='GF', h=h, w=w) for h, w in gf_sizes]
    return dict(
        base_dim=base_dim,
        depths=[2, 3, 18, 2],
        orders=[2, 3, 4, 5],
        dw_cfg=mixers)


_GF224 = ((14, 8), (7, 4))
_GF384 = ((24, 13), (12, 7))


@MODELS.register_module()
class HorNet(BaseModule):
    """HorNet backbone (recursive gated convolutions).

    Four stages of :class:`HorNetBlock` with widths ``C * [1, 2, 4, 8]``,
    depths ``[2, 3, 18, 2]`` and gnConv orders ``[2, 3, 4, 5]``; a 4x4 stride-4
    stem and 2x2 stride-2 downsampling between stages. Every output stage has
    its own channel-first LayerNorm ``norm{i}``.

    Args:
        arch: A name from :attr:`arch_zoo` (``'tiny'``, ``'tiny-gf'``,
            ``'small'``, ``'small-gf'``, ``'base'``, ``'base-gf'``,
            ``'large'``, ``'large-gf'``, the ``-gf384`` variants of all four
            sizes, with the filters of the 384 models and of the published
            dense-task configs, or the short aliases ``'t'``, ``'t-gf'``,
            ...), or a dict with keys ``base_dim``, ``depths``, ``orders``
            and ``dw_cfg`` (one mixer config per stage, as in mmpretrain).
        in_channels: Channels of the input image.
        drop_path_rate: Stochastic depth rate of the last block; the rate
            rises linearly from 0 over all blocks.
        scale: Factor on the gnConv mixer outputs (1/3 in all published
            models).
        use_layer_scale: Whether blocks scale their branches by learnable
            per-channel vectors.
        out_indices: Stages whose (normalised) output is returned; negative
            values count from the end.
        frozen_stages: Stages to freeze (no gradient, eval mode): ``-1``
            freezes nothing, ``i >= 0`` freezes the stem, the downsampling
            layers and the blocks of stages ``0..i`` and the output norms of
            those stages; ``3`` freezes the whole backbone.
        with_cp: Trade compute for memory by re-running each block in the
            backward pass (non-reentrant activation checkpointing).
        gap_before_final_norm: Pool each output globally before its norm and
            return ``(B, C)`` vectors (classification); otherwise return
            normalised ``(B, C, H, W)`` maps (dense tasks).
        fused: Whether the blocks may use their fused computation (same
            results); False computes the equations module by module, the
            baseline of the equivalence tests and the benchmark.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained',
            checkpoint='hornet-tiny.pth', prefix='backbone.')``.

    Example:
        >>> model = HorNet('tiny', out_indices=(0, 1, 2, 3),
        ...                gap_before_final_norm=False).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 224, 224))]
        [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)]
    """

    arch_zoo: Dict[str, dict] = {
        **dict.fromkeys(['t', 'tiny'], _arch(64)),
        **dict.fromkeys(['t-gf', 'tiny-gf'], _arch(64, _GF224)),
        **dict.fromkeys(['t-gf384', 'tiny-gf384'], _arch(64, _GF384)),
        **dict.fromkeys(['s', 'small'], _arch(96)),
        **dict.fromkeys(['s-gf', 'small-gf'], _arch(96, _GF224)),
        **dict.fromkeys(['s-gf384', 'small-gf384'], _arch(96, _GF384)),
        **dict.fromkeys(['b', 'base'], _arch(128)),
        **dict.fromkeys(['b-gf', 'base-gf'], _arch(128, _GF224)),
        **dict.fromkeys(['b-gf384', 'base-gf384'], _arch(128, _GF384)),
        **dict.fromkeys(['l', 'large'], _arch(192)),
        **dict.fromkeys(['l-gf', 'large-gf'], _arch(192, _GF224)),
        **dict.fromkeys(['l-gf384', 'large-gf384'], _arch(192, _GF384)),
    }
    num_stages = 4

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 drop_path_rate: float = 0.,
                 scale: float = 1 / 3,
                 use_layer_scale: bool = True,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 gap_before_final_norm: bool = True,
                 fused: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        base_dim = self.arch_settings['base_dim']
        depths = self.arch_settings['depths']
        self.dims = [base_dim * 2**i for i in range(self.num_stages)]

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        for i in out_indices:
            if not -self.num_stages <= i < self.num_stages:
                raise ValueError(
                    f'out_indices {tuple(out_indices)}: stage index {i} does '
                    f'not exist; valid are 0..{self.num_stages - 1} and '
                    f'-{self.num_stages}..-1 (counted from the end)')
        out_indices = [
            i + self.num_stages if i < 0 else i for i in out_indices
        ]
        if not -1 <= frozen_stages < self.num_stages:
            raise ValueError(
                f'frozen_stages must be in [-1, 3], got {frozen_stages}')
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.gap_before_final_norm = gap_before_final_norm

        stem = nn.Sequential(
            nn.Conv2d(in_channels, self.dims[0], kernel_size=4, stride=4),
            LayerNorm2d(self.dims[0]))
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(self.num_stages - 1):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(self.dims[i]),
                    nn.Conv2d(self.dims[i], self.dims[i + 1], 2, stride=2)))

        rates = torch.linspace(
            0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            first = sum(depths[:i])
            self.stages.append(
                nn.Sequential(*[
                    HorNetBlock(
                        self.dims[i],
                        order=self.arch_settings['orders'][i],
                        mixer_cfg=self.arch_settings['dw_cfg'][i],
                        scale=scale,
                        drop_path_rate=rates[first + j],
                        use_layer_scale=use_layer_scale,
                        fused=fused) for j in range(depths[i])
                ]))

        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(self.dims[i]))

        self.apply(self._init_module)
        self._freeze_stages()

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(
                    f'Unknown HorNet arch {arch!r}; valid archs: '
                    f'{", ".join(sorted(cls.arch_zoo))} (or a dict with keys '
                    'base_dim, depths, orders, dw_cfg)')
            return copy.deepcopy(cls.arch_zoo[key])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch)}')
        required = {'base_dim', 'depths', 'orders', 'dw_cfg'}
        if set(arch) != required:
            raise ValueError(f'A custom HorNet arch needs exactly the keys '
                             f'{sorted(required)}, got {sorted(arch)}')
        for key in ('depths', 'orders', 'dw_cfg'):
            if len(arch[key]) != cls.num_stages:
                raise ValueError(f'arch[{key!r}] needs {cls.num_stages} '
                                 f'entries, got {len(arch[key])}')
        return copy.deepcopy(dict(arch))

    @staticmethod
    def _init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages + 1):
            modules = [self.downsample_layers[i], self.stages[i]]
            if i in self.out_indices:
                modules.append(getattr(self, f'norm{i}'))
            for m in modules:
                m.eval()
                for param in m.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'HorNet':
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = []
        for i in range(self.num_stages):
            x = self.downsample_layers[i](x)
            if self.with_cp and torch.is_grad_enabled():
                for block in self.stages[i]:
                    x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = self.stages[i](x)
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean((2, 3), keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x).contiguous())
        return tuple(outs)

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = '',
                        decay_type: str = 'layer_wise',
                        num_layers: int = 12) -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise learning-rate decay.

        The ids are those of the published HorNet recipes. A parameter with id
        ``L`` gets the lr scale ``decay_rate ** (num_layers + 1 - L)``, which
        is ``decay_rate ** (max_layer_id - L - 1)`` with the returned
        ``max_layer_id = num_layers + 2`` (mmpretrain's convention).

        * ``'layer_wise'``: downsample layers 0, 1, 2, 3 -> 0, 2, 3, 12;
          stage 0 -> 1; stage 1 -> 2; block ``b`` of stage 2 ->
          ``min(3 + b // 2, 11)``; stage 3 -> 12. Ids 11 and 12 are fixed,
          so with ``num_layers < 11`` stage 3 gets a scale above 1, as in
          the published HorFPN recipe.
        * ``'stage_wise'``: downsample layers -> 0; stage ``s`` -> ``s + 1``.

        Anything else (output norms, necks, heads) gets ``num_layers + 1``.

        Args:
            param_name: Full parameter name, e.g.
                ``'backbone.stages.2.7.gnconv.proj_in.weight'``.
            prefix: Prefix of the backbone's parameters in ``param_name``.
            decay_type: ``'layer_wise'`` or ``'stage_wise'``.
            num_layers: ``N`` of the recipe.

        Returns:
            ``(layer_id, max_layer_id)``.
        """
        if decay_type not in ('layer_wise', 'stage_wise'):
            raise ValueError(f"decay_type must be 'layer_wise' or "
                             f"'stage_wise', got {decay_type!r}")
        max_layer_id = num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers + 1, max_layer_id
        name = param_name[len(prefix):]
        match = re.match(r'(downsample_layers|stages)\.(\d+)\.(\d+)?', name)
        if match is None:
            return num_layers + 1, max_layer_id
        kind, stage = match.group(1), int(match.group(2))
        if decay_type == 'stage_wise':
            layer_id = 0 if kind == 'downsample_layers' else stage + 1
        elif kind == 'downsample_layers':
            layer_id = (0, 2, 3, 12)[stage]
        elif stage < 2:
            layer_id = stage + 1
        elif stage == 2:
            layer_id = min(3 + int(match.group(3)) // 2, 11)
        else:
            layer_id = 12
        return layer_id, max_layer_id

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        # A shape that does not fit is an error naming the key, not the
        # warning mmengine's non-strict loader would log and go on from.
        # Global-filter weights of another (h, w) are resized by the filter.
        for name, own in self.state_dict().items():
            key = prefix + name
            theirs = state_dict.get(key)
            if not isinstance(theirs, torch.Tensor) or \
                    theirs.shape == own.shape:
                continue
            if (name.endswith('complex_weight') and theirs.dim() == 4
                    and theirs.shape[0] == own.shape[0]
                    and theirs.shape[3] == 2):
                continue
            raise ValueError(
                f'Shape mismatch for {key}: checkpoint has '
                f'{tuple(theirs.shape)}, model has {tuple(own.shape)}. '
                'Check that the checkpoint is of the same HorNet arch.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


# ---------------------------------------------------------------------------
# Checkpoint conversion
# ---------------------------------------------------------------------------
_BACKBONE_TOP = ('downsample_layers.', 'stages.', 'norm')


def unwrap_checkpoint(checkpoint: dict, use_ema: bool = False) -> dict:
    """Return the state dict inside a loaded checkpoint.

    Accepts a raw state dict or one wrapped in ``state_dict``, ``model`` or
    ``model_ema`` (the official release stores the EMA weights under
    ``model_ema`` next to ``model``).

    Args:
        checkpoint: What ``torch.load`` returned.
        use_ema: Take ``model_ema`` when present.
    """
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f'A checkpoint must be a dict, got {type(checkpoint).__name__}')
    keys = ('model_ema', 'state_dict', 'model') if use_ema else \
        ('state_dict', 'model')
    if use_ema and 'model_ema' not in checkpoint:
        raise ValueError(
            'use_ema was asked for but the checkpoint has no '
            f'model_ema (top-level keys: {sorted(checkpoint)[:8]})')
    for key in keys:
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def convert_hornet_state_dict(
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Convert a HorNet state dict to hornet_mm's classifier layout.

    Understands the official release's layout (``stages.*``, ``norm.*``,
    ``head.*``), mmpretrain's (``backbone.*`` with ``gnconv.projs``,
    ``gamma1.weight``, ``head.fc.*``) and hornet_mm's own, which passes
    through unchanged (conversion is idempotent). A ``module.`` prefix (DDP)
    is dropped. Keys of other modules (necks, heads of detectors) are kept.

    Returns:
        A new ordered dict with ``backbone.*`` and ``head.fc.*`` keys.
    """
    converted = {}
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if key in ('head.weight', 'head.bias'):
            key = 'head.fc.' + key.split('.')[-1]
        elif key.startswith(_BACKBONE_TOP) or key.startswith('backbone.'):
            name = key[len('backbone.'):] if key.startswith('backbone.') \
                else key
            if name.startswith('norm.'):
                name = 'norm3.' + name[len('norm.'):]
            name = name.replace('.gnconv.projs.', '.gnconv.pws.')
            name = re.sub(r'\.gamma([12])\.weight$', r'.gamma\1', name)
            key = 'backbone.' + name
        if key in converted:
            raise ValueError(f'Two checkpoint keys convert to {key}')
        converted[key] = value
    return converted


def infer_hornet_arch(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Recover the arch dict of a converted HorNet state dict from its shapes.

    Args:
        state_dict: A state dict in hornet_mm's layout (``backbone.*``).

    Returns:
        A dict with ``base_dim``, ``depths``, ``orders``, ``dw_cfg`` that
        :class:`HorNet` accepts.
    """
    stem = state_dict.get('backbone.downsample_layers.0.0.weight')
    if stem is None:
        raise ValueError('Not a HorNet state dict: no stem conv weight '
                         '(backbone.downsample_layers.0.0.weight)')
    depths, orders, mixers = [], [], []
    for s in range(HorNet.num_stages):
        blocks = {
            int(m.group(1))
            for k in state_dict
            for m in [re.match(rf'backbone\.stages\.{s}\.(\d+)\.', k)] if m
        }
        if not blocks:
            raise ValueError(f'Not a HorNet state dict: stage {s} has no '
                             'blocks')
        depths.append(max(blocks) + 1)
        base = f'backbone.stages.{s}.0.gnconv.'
        orders.append(1 + len({
            k
            for k in state_dict
            if k.startswith(base + 'pws.') and k.endswith('.weight')
        }))
        gf = state_dict.get(base + 'dwconv.complex_weight')
        if gf is not None:
            mixers.append(dict(type='GF', h=gf.shape[1], w=gf.shape[2]))
        else:
            kernel = state_dict[base + 'dwconv.weight'].shape[-1]
            mixers.append(dict(type='DW', kernel_size=int(kernel)))
    return dict(
        base_dim=int(stem.shape[0]),
        depths=depths,
        orders=orders,
        dw_cfg=mixers)
