"""The parts of the test lab (tests/lab/lab.py re-exports their public names); standard library only."""
