# Loaded automatically by Python in subprocesses started by the tests (PYTHONPATH).
import netblock

netblock.install()
