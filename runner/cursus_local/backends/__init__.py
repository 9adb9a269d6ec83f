"""Backends run a ProcessingJob: one interface (`base.Backend`), one module per engine."""
