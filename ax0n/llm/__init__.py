"""The deterministic model runtime executors and validators share: generation, prefill, verification."""
