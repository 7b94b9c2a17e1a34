"""The inbound path: a signed POST becomes one handler's passive reply (webhook → dedupe → dispatcher →
router → handler), with the per-user lock, conversation state, normalisation and the write-behind log."""
