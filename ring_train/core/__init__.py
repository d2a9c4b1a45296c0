"""Pure training math (torch + stdlib only): the C3PO step planner, the registries of advantage
estimators, loss aggregations and KL estimators, the per-micro-batch policy loss, and the domain schedule.
Backends (embedded, OpenRLHF) call these so the logic is written and tested once."""
