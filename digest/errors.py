"""Exceptions of the digest package.

DigestError
 ├── FontMissing       no installed font covers the Chinese text of the charts
 ├── DigestNotFound    no saved digest (or incident) for the date/id asked for
 ├── VocabError        digest/vocab.yaml is invalid (names the key)
 └── DeliveryError     SMTP or webhook delivery failed (the digest is still saved)
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error the digest package raises."""


class FontMissing(DigestError):
    """No CJK font is installed; charts would show tofu boxes."""


class DigestNotFound(DigestError):
    """The digest or incident asked for does not exist."""


class VocabError(DigestError):
    """The label vocabulary file is invalid."""


class DeliveryError(DigestError):
    """Email or webhook delivery failed."""
