"""The in-process data plane: threads per component, bounded queues, end-to-end acks."""

from conduix.runtime.acks import AckToken, AckTracker
from conduix.runtime.runner import PipelineRun, RunResult, default_state_dir
from conduix.runtime.stats import ComponentStats

__all__ = ["AckToken", "AckTracker", "ComponentStats", "PipelineRun", "RunResult", "default_state_dir"]
