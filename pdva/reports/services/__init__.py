"""Report builders: each turns an analysis (pdva.outcomes) into a template context for a page or a PDF."""
