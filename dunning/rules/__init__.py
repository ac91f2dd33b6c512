"""The rules: pure decisions of collection (aging, segments, the ladder, the plan, arrangements, what a
message says, what a delivery event means). No IO: imports only the standard library, pandas, the
models of dunning.config and dunning.law_fr; tests/test_architecture.py holds that boundary."""
