"""What partybot's capabilities mean and do: rules, queries and state changes as functions over a Session or
the Database, shared by chat, the CLI, the scheduler's jobs and the console. No WeChat, HTTP or wording."""
