"""Study credits (学时): the append-only ledger, the rules that feed it, transcripts, rankings."""
