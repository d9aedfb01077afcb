"""Study credits (学时): the append-only ledger every rule awards through, and its entries.
Reading them back (transcripts, rankings) is terminals.records'."""
