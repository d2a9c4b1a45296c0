"""Pure training math (torch + stdlib only): the C3PO step planner, GRPO-family losses and advantages, and
the domain schedule. Backends (embedded, OpenRLHF) call these so the logic is written and tested once."""
