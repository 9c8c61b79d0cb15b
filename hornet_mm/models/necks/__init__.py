from .horfpn import HorFPN

__all__ = ['HorFPN']
