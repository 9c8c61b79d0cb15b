"""Download a released HorNet checkpoint by name and convert it for its config.

The names are those of ``model-index.yml`` (each config's file stem, or the
release's own name such as ``cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k``).
The released file is kept in DEST (a second run does not download it again);
the converted checkpoint, checked to load strictly into the config's model,
is written to ``DEST/<name>.pth``.

Example:
    python tools/model_converters/download_released.py \\
        cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco
    # then, NAME being that name:
    python tools/test.py configs/detection/NAME.py checkpoints/NAME.pth
"""
import argparse
import os.path as osp
import sys

from mmengine.logging import MMLogger

from hornet_mm.apis.model_zoo import fetch_released, load_model_index


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('name', nargs='?', help='model name (see --list)')
    parser.add_argument(
        '--dest', default='checkpoints', help='download/output folder')
    parser.add_argument(
        '--mirror',
        help='fetch from this scheme://host[:port] instead of the release '
        'URL\'s (the URL path is kept)')
    parser.add_argument(
        '--list', action='store_true', help='list the released models')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.list:
        for model in load_model_index():
            url = (model.get('Converted From') or {}).get('Weights')
            sys.stdout.write(f"{model['Name']}{'' if url else '  (no file)'}"
                             '\n')
        return 0
    if not args.name:
        sys.stderr.write('error: give a model name (or --list)\n')
        return 2
    logger = MMLogger.get_instance('download_released', log_level='INFO')
    last = [-1]

    def progress(done, total):
        if total and done * 10 // total != last[0]:
            last[0] = done * 10 // total
            logger.info(f'{done / 2**20:.0f} / {total / 2**20:.0f} MiB')

    try:
        result = fetch_released(
            args.name, args.dest, mirror=args.mirror, progress=progress)
    except (KeyError, ValueError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) else err
        sys.stderr.write(f'error: {message}\n')
        return 1
    logger.info(f"{result['name']}: {result['download']} -> "
                f"{result['checkpoint']} (loads strictly into "
                f"{osp.relpath(result['config'])})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
