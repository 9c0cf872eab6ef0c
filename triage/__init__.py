"""Triage: from signals (topics, posts, crawler alerts) to incidents that the right team owns,
on a clock. Playbooks (data) decide category, severity weights, routing, SLA and escalation;
the workflow enforces states and writes the audit log; notifications go out by robot webhook
(DingTalk/WeCom) and email. Users, roles and API tokens for the secured API live here too."""
