"""HTTP plumbing the API and the pages share: who is asking and signing in (:mod:`.security`), and what
every request and response goes through (:mod:`.protection`)."""
