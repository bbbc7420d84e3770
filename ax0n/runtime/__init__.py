"""Service plumbing: settings, the gRPC runner, telemetry, routing stats and snapshot rebuilds."""
