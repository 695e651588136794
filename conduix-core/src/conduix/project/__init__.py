"""Pipelines of pipelines: data types, parents, child runs per parent record, run bookkeeping."""

from conduix.project.model import ChildRequest, Project, Relation, load_project
from conduix.project.runner import ProjectRunner
from conduix.project.store import RunRecord, RunStore

__all__ = ["ChildRequest", "Project", "ProjectRunner", "Relation", "RunRecord", "RunStore", "load_project"]
