"""Pipelines of pipelines: data types, parents, child runs per parent record, run bookkeeping."""

from conduix.project.model import ChildRequest, Project, Relation, load_project
from conduix.project.runner import CHILDREN_SINK, ProjectRunner, add_children_sink
from conduix.project.store import RunRecord, RunStore

__all__ = ["CHILDREN_SINK", "ChildRequest", "Project", "ProjectRunner", "Relation", "RunRecord", "RunStore",
           "add_children_sink", "load_project"]
