"""ax0n shared core: protocol parameters, canonical types, mempool, crypto, chain bindings, telemetry."""

__version__ = "0.1.0"
