"""A small HorNet (4 stages, 7x7 and global-filter mixers) in hornet_mm's
arch format and in the reference formulation's, for fast tests."""

SMALL = dict(
    base_dim=16,
    depths=[1, 2, 2, 1],
    orders=[2, 3, 4, 5],
    dw_cfg=[
        dict(type='DW', kernel_size=7),
        dict(type='DW', kernel_size=7),
        dict(type='GF', h=4, w=3),
        dict(type='GF', h=2, w=2),
    ])
SMALL_REF = dict(
    base_dim=16,
    depths=[1, 2, 2, 1],
    orders=[2, 3, 4, 5],
    mixers=[('dw', 7), ('dw', 7), ('gf', 4, 3), ('gf', 2, 2)])
