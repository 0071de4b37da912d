"""Payment orders: every payment is an order, and a paid order is applied exactly once."""
