"""Curves and training time from mmengine's scalar logs, as mmdet's
``analyze_logs.py`` gives them, for every hornet_mm config family.

The logs are the ``vis_data/*.json`` files of a work dir
(``work_dirs/<config>/<timestamp>/vis_data/<timestamp>.json``). A key is a
field of the log (``loss``, ``lr``, ``coco/bbox_mAP``, ``accuracy/top1``,
``mIoU``) or the last ``/`` part of one (``bbox_mAP``); ``val/time``
selects a validation field that training entries also have.

Examples::

    python tools/analysis_tools/analyze_logs.py plot_curve \\
        work_dirs/a/*/vis_data/*.json work_dirs/b/*/vis_data/*.json \\
        --keys loss bbox_mAP --legend a b --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time \\
        work_dirs/a/*/vis_data/*.json
"""
import argparse
import os
import sys
from typing import List, Optional

from hornet_mm.analysis.logs import (LogError, load_scalar_log, plot_curves,
                                     train_time)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Analyse mmengine scalar logs (vis_data/*.json)')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot curves of some keys')
    plot.add_argument('json_logs', nargs='+', help='vis_data JSON logs')
    plot.add_argument(
        '--keys', nargs='+', default=['loss'], help='the keys to plot')
    plot.add_argument(
        '--legend', nargs='+', help='one name per log (default: run dirs)')
    plot.add_argument(
        '--xaxis',
        choices=['iter', 'epoch'],
        default='iter',
        help='x axis: iterations, or epochs (epoch-based runs)')
    plot.add_argument('--title', help='figure title')
    plot.add_argument(
        '--out',
        help='save the figure here (.png, .pdf, .svg) instead of '
        'showing it')
    times = sub.add_parser(
        'cal_train_time', help='seconds per iteration, per epoch')
    times.add_argument('json_logs', nargs='+', help='vis_data JSON logs')
    times.add_argument(
        '--include-outliers',
        action='store_true',
        help='count the first entry of each epoch (data loader start-up)')
    return parser.parse_args(argv)


def cal_train_time(args: argparse.Namespace) -> None:
    for path in args.json_logs:
        stats = train_time(load_scalar_log(path), args.include_outliers)
        print(f'{"-" * 5}Analyse train time of {path}{"-" * 5}')
        if 'slowest_epoch' in stats:
            slow, fast = stats['slowest_epoch'], stats['fastest_epoch']
            print(f'slowest epoch {slow}, average time is '
                  f'{stats["per_epoch_s"][slow]:.4f} s/iter')
            print(f'fastest epoch {fast}, average time is '
                  f'{stats["per_epoch_s"][fast]:.4f} s/iter')
            print(f'time std over epochs is {stats["epoch_std_s"]:.4f}')
        print(f'average iter time: {stats["mean_s"]:.4f} s/iter')


def plot_curve(args: argparse.Namespace) -> None:
    logs = [load_scalar_log(path) for path in args.json_logs]
    if args.out is None and not os.environ.get('DISPLAY'):
        raise LogError('No display to show the figure on: give --out FILE')
    fig = plot_curves(logs, args.keys, args.out, args.legend, args.xaxis,
                      args.title)
    if args.out is None:
        import matplotlib.pyplot as plt
        plt.show()
        plt.close(fig)
    else:
        print(f'saved {", ".join(args.keys)} of {len(logs)} log(s) to '
              f'{args.out}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.task == 'plot_curve':
            plot_curve(args)
        else:
            cal_train_time(args)
    except (LogError, FileNotFoundError, ValueError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
