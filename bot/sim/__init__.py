"""The web phone simulator under /sim (only with the fake WeChat) and the fake's client it shares with
`partybot chat`."""
