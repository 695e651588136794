"""Cron schedules and the leader lease: one control-plane instance at a time schedules and places."""

from conduix_control.scheduler.cron import due_fires, fire_due, next_runs, validate_schedule
from conduix_control.scheduler.leader import LeaderLease
from conduix_control.scheduler.loop import LeaderLoop

__all__ = ["LeaderLease", "LeaderLoop", "due_fires", "fire_due", "next_runs", "validate_schedule"]
