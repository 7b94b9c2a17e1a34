"""WeChat's side, for people and tests: the fake WeChat, message signing for simulators, `partybot chat` and
`partybot demo`. Nothing in production imports this wing."""
