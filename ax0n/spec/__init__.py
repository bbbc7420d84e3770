"""Protocol rules as small typed pure functions beside one parameter table (the ax0n spec)."""
