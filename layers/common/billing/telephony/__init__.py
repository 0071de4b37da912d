"""What the telephony side (the SIP gateway, the softphone service) gets from billing
(SPEC §11): the entitlements document, the read API that answers it and the change events
that carry it. Their contract is in contracts/entitlements/."""
