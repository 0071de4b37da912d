"""Subscription use cases: connect, renew, change, auto-renewal, expire, terminate."""
