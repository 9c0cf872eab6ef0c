"""Exceptions of the NLP stage (classifiers, training, prediction, enrichment).

NlpError                      base: a problem the user can fix (CLI prints one line)
├── ConfigError               a task config / lexicon file is invalid (names file and field)
├── DatasetError              a dataset folder or file is missing or malformed
├── ModelNotFound             no trained model for a task (names the directory)
├── UnknownTask               a task name that is not rumor/emotion/polarity/help/...
└── PredictInputError         a bad JSONL input line (names the line number)
"""

from __future__ import annotations


class NlpError(Exception):
    """Base of every NLP error a user can act on."""


class ConfigError(NlpError):
    """A config or lexicon file is invalid; the message names the file, item and field."""


class DatasetError(NlpError):
    """A dataset is missing or malformed; the message names the path."""


class ModelNotFound(NlpError):
    """No trained model where one was expected."""


class UnknownTask(NlpError):
    """The task name is not one of the known tasks."""


class PredictInputError(NlpError):
    """A prediction input line is not a JSON object with a string `text`."""
