"""The one way out for everything that is not a passive reply: notices and their audiences, the outbox
worker, the channels it chooses among, and what waits for a user's next message."""
