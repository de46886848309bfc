"""The user look-up cache: per guest, single-flight, invalidated when that guest's points change."""
