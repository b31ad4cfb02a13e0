"""Named schema versions, oldest first."""
