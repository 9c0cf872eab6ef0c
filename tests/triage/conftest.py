"""Real local servers that notifications are delivered to: a robot-webhook endpoint (HTTP on
127.0.0.1) and an SMTP server (aiosmtpd), each recording what it received."""

from __future__ import annotations
