from .roi_extractors import SingleRoIExtractor

__all__ = ['SingleRoIExtractor']
