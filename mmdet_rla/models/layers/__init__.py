from .channel_attention import ECALayer, SELayer, build_channel_attention

__all__ = ['SELayer', 'ECALayer', 'build_channel_attention']
