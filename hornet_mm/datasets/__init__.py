from .imagenet import ImageDecodeError, ImageNet, LoadImageFromFile

__all__ = ['ImageDecodeError', 'ImageNet', 'LoadImageFromFile']
