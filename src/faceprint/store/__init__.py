"""The gallery: subjects, consent, templates and audit on SQLite, with a rebuildable vector index."""
