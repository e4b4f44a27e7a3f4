"""Pure governance analytics (no Django imports): fairness statistics (M8.5)."""
