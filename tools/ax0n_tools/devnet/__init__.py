"""Local processes for the devnet and the test suite (redis-server, service processes)."""
