"""The domain, one module per concern; everything importable from `reader_study.models`."""

from reader_study.models.cases import Case, Instance, Series, instance_path
from reader_study.models.jobs import (
    ACTIVE_STATES,
    RETRYABLE_STATES,
    DenoiseJob,
    JobFields,
    JobState,
    TrainingJob,
)
from reader_study.models.registry import DenoiserModel, checkpoint_path
from reader_study.models.studies import (
    SIDES,
    Criterion,
    ExportRecord,
    Presentation,
    ReaderStudy,
    Score,
    StudyCase,
    StudyReader,
)
from reader_study.models.uploads import UploadFile, UploadSession

__all__ = [
    "ACTIVE_STATES",
    "RETRYABLE_STATES",
    "SIDES",
    "Case",
    "Criterion",
    "DenoiseJob",
    "DenoiserModel",
    "ExportRecord",
    "Instance",
    "JobFields",
    "JobState",
    "Presentation",
    "ReaderStudy",
    "Score",
    "Series",
    "StudyCase",
    "StudyReader",
    "TrainingJob",
    "UploadFile",
    "UploadSession",
    "checkpoint_path",
    "instance_path",
]
