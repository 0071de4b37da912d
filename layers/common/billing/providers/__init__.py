"""Clients of the payment providers (PayPal Orders v2, Crypto Pay, Stripe) and the errors they
share. Each client is a thin synchronous layer over the provider's HTTP API: it turns integer
minor units into the provider's decimal strings and back, checks webhook signatures and parses
webhook bodies into small typed records, and maps failures to `errors.ProviderUnavailable`
(retry later) or `errors.ProviderRejected` (the provider said no). No client reads the
environment or logs a secret; configuration and credentials are passed in by the caller.
"""
