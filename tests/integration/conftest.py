"""Fixtures shared by integration modules: the one stream-worker run."""

from tests.integration.pipeline import pipeline_run

__all__ = ["pipeline_run"]
