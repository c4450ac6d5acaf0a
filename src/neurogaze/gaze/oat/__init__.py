"""OAT, the object-level attention transformer for visual-search scanpaths (Fang et al. 2024)."""
