"""ax0n-router: NeuralRoute, the client-facing router."""
