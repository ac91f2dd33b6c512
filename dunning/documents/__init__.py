"""What people read: message rendering, the formal notice and AR cover PDFs, the legal dossier,
the run summary and the exports. May import the rules, the law and the state (to read it)."""
