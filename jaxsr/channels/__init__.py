"""Structured (channel) pruning primitives: channel groups traced from a model, keep-sets,
surgery into a physically smaller model. Pure: nothing here imports the training loop."""

from jaxsr.channels.graph import ChannelGraph, ChannelGroup, trace

__all__ = ["ChannelGraph", "ChannelGroup", "trace"]
