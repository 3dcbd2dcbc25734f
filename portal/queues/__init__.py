"""Customer-service queues: routing rules, fair assignment, SLA clocks, escalation and the
agent's workspace (``/staff/queues``, ``/staff/cases/<reference>``, ``/staff/search``,
``/staff/reports/sla``)."""
