"""Knowledge service: documents, chunks and search, the knowledge the AI answers from."""
