"""Dashboard views, one module per page family; each view starts with its access check."""
