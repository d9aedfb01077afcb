"""A member's record of study, read from everything that earns credit: transcripts (the web
player's evidence, the site sessions attended, the ledger's entries), rankings, corrections, and
their pages, API and CLI. It sits above the ledger (terminals.credits) and the evidence that
feeds it (terminals.evidence, terminals.sessions), which never import it."""
