"""Per-customer daily counts: counted on the scan path in memory, stored by ``reporting.analytics``."""
