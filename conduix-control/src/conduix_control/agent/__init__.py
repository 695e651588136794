"""The agent (``conduix agent start``): runs assigned pipelines in worker processes under leases."""

from conduix_control.agent.agent import Agent, AgentOptions
from conduix_control.agent.channel import ChannelSettings, CommandChannel, Mode
from conduix_control.agent.client import ControlClient

__all__ = ["Agent", "AgentOptions", "ChannelSettings", "CommandChannel", "ControlClient", "Mode"]
