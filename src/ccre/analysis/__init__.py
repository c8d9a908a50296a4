"""Looking inside a model: probing frozen pair embeddings, neighbourhoods, t-SNE and loss plots."""
