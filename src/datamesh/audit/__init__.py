"""The audit log: who did what to which resource, when and from where; tamper-evident."""
