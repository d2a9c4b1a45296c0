"""``ring-data verify``: keep only problems whose reference its verifier can check (code: a reference
solution passes every test in the sandbox; candidate answers agree), reject the rest with evidence."""
